import type { Socket } from 'node:net';

const MALFORMED_NAME = JSON.stringify({
  error: 'invalid_request',
  error_description: 'malformed HTTP header name; a common cause is a space before the colon, which HTTP forbids (RFC 9112 section 5.1): write "Authorization: Basic ..." rather than "Authorization :Basic ..."',
});

/**
 * Requests Node's HTTP parser refuses never reach the app. The common one here is a
 * header written `Authorization :Basic ...` (as in some WSO2 documents), which HTTP
 * requires a server to reject: say what is wrong instead of an empty 400.
 */
export default function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_INVALID_HEADER_TOKEN') {
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(MALFORMED_NAME)}\r\nConnection: close\r\n\r\n${MALFORMED_NAME}`);
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
}
