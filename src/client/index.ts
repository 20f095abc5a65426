export { ApiError, type ClientOptions, ControlPlaneClient, type FieldError, type RequestOptions, problemError } from './client.js';
