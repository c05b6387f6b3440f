/**
 * For APIs behind stepgate: validate bearer tokens and require scopes, the way an API
 * gateway does. `import { createRequireScopes } from 'stepgate/server/api/index.ts'`.
 */
export { createRequireScopes, type RequireScopesOptions, type TokenInfo } from './require-scopes.ts';
