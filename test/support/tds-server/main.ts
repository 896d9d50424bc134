/**
 * Runs the TDS test responder as a process of its own (so a test can measure the client's memory alone):
 * `tsx test/support/tds-server/main.ts [user] [password]` prints `{"port":N}` on one line and serves until
 * stdin closes or the process is killed.
 */
import { startTdsServer } from './server.js';

const [user = 'sa', password = 'Secret-123', database = 'test'] = process.argv.slice(2);
const server = await startTdsServer({ users: { [user]: password }, database });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void server.close().then(() => process.stdin.destroy());
});
