/** HTTPS requests of the load generator (Messages 12–13, registrations), over a keep-alive undici pool. */
import { Pool } from 'undici';

export interface HttpAnswer {
  status: number;
  body: string;
}

export class HttpsLoad {
  private readonly pool: Pool;

  constructor(origin: string, ca: string, connections = 16) {
    this.pool = new Pool(origin, { connections, pipelining: 1, connect: { ca } });
  }

  async post(
    path: string,
    body: string,
    contentType = 'application/x-www-form-urlencoded',
  ): Promise<HttpAnswer> {
    const response = await this.pool.request({
      method: 'POST',
      path,
      body,
      headers: { 'content-type': contentType },
    });
    // Always consume the body, or the connection is never reused.
    return { status: response.statusCode, body: await response.body.text() };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
