export {
  type Config,
  type ConfigKey,
  CONFIG_KEYS,
  ConfigError,
  configSchema,
  envName,
  inheritedEnvironment,
  isCi,
  loadConfig,
  loadConfigFromProcess,
} from './config.js';
export { configTableMarkdown } from './table.js';
