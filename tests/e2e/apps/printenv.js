for (const k of ['NODE_OPTIONS', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES']) {
  console.log(k + '=' + (process.env[k] === undefined ? '<unset>' : process.env[k]));
}
