export { type ApiDeps, type CredentialResolver, type Principal, type Resources, type StatusSection } from './context.js';
export { bearer } from './auth.js';
export { sendProblem, toCatapultError } from './errors.js';
export type { App } from './route.js';
export { apiKeySchema, errorResponses, idParams, problemSchema, queryBool } from './schemas.js';
export { buildApi } from './server.js';
export { clusterRoutes } from './routes/workers.js';
export { gatewayRoutes } from './routes/gateway.js';
export { deploymentRoutes, modelRoutes } from './routes/deployments.js';
