/** A refused change: nothing was written. Each door shows it its own way (HTTP status, form error, one CLI line). */
export class ManageError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: { path: string; message: string }[];
  constructor(status: number, code: string, message: string, issues: { path: string; message: string }[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

/**
 * Who asks, from where: recorded with every change. `actor` is the admin's "user:<id>"
 * (console, API with a user token), "api:<client_id>" (client_credentials token) or
 * "cli:<os user>".
 */
export type Actor = { actor: string; address: string | null };

export function duplicate(path: string, message: string): ManageError {
  return new ManageError(409, 'duplicate', message, [{ path, message }]);
}

export function notFound(what: string, id: string): ManageError {
  return new ManageError(404, 'not_found', `no ${what} "${id}"`);
}

export function invalid(path: string, message: string): ManageError {
  return new ManageError(400, 'invalid_request', `${path}: ${message}`, [{ path, message }]);
}
