/** A request the server refuses, with the HTTP status and a message for the person asking. */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly status: 400 | 401 | 404 | 405 | 413 | 414 | 503,
    message: string,
  ) {
    super(message);
  }
}
