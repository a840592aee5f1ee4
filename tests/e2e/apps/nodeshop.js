// The Node.js HTTP app of the end-to-end tests: plain `http`, no OpenTelemetry code of its own.
// Prints `LISTENING <port>`, answers one request, closes the server and lets the process end
// normally (the agent flushes on `beforeExit`).
const http = require('http');
const server = http.createServer((req, res) => {
  res.end('node-ok:' + req.url);
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  console.log('LISTENING ' + server.address().port);
});
