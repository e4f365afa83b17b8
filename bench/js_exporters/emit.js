// Emit GenAI spans (and GenAI events as logs) with the OpenTelemetry JS SDK's own exporters
// (driven by bench/js_exporters.py, which documents how to run it).
// Usage: node emit.js '<json config>'
//   {"protocol": "json"|"proto"|"grpc", "gzip": bool, "http": "http://127.0.0.1:P",
//    "grpc": "http://127.0.0.1:P", "key": "...", "traces": N, "logs": bool, "timeoutMs": 10000}
// Prints one JSON line: {"sent": [...spans as sent...], "results": {...export results...}}
'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');

const cfg = JSON.parse(process.argv[2]);
const compression = cfg.gzip ? 'gzip' : 'none';
const headers = { authorization: `Bearer ${cfg.key}` };
const timeoutMillis = cfg.timeoutMs || 10000;

function exporters() {
  if (cfg.protocol === 'grpc') {
    const grpc = require('@grpc/grpc-js');
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${cfg.key}`);
    const T = require('@opentelemetry/exporter-trace-otlp-grpc').OTLPTraceExporter;
    const L = require('@opentelemetry/exporter-logs-otlp-grpc').OTLPLogExporter;
    const o = { url: cfg.grpc, metadata, compression, timeoutMillis };
    return [new T(o), new L({ ...o, metadata: metadata.clone() })];
  }
  const pkg = cfg.protocol === 'json' ? 'http' : 'proto';
  const T = require(`@opentelemetry/exporter-trace-otlp-${pkg}`).OTLPTraceExporter;
  const L = require(`@opentelemetry/exporter-logs-otlp-${pkg}`).OTLPLogExporter;
  return [
    new T({ url: `${cfg.http}/v1/traces`, headers, compression, timeoutMillis }),
    new L({ url: `${cfg.http}/v1/logs`, headers: { ...headers }, compression, timeoutMillis }),
  ];
}

// Wrap an exporter to record every export's result (the SDK swallows failures).
const results = { spans: [], logs: [] };
function recording(exporter, into) {
  const inner = exporter.export.bind(exporter);
  exporter.export = (items, done) => {
    inner(items, (r) => {
      into.push({ n: items.length, code: r.code, error: r.error ? String(r.error.message || r.error) : null });
      done(r);
    });
  };
  return exporter;
}

const [spanExporter, logExporter] = exporters();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'js-rag', 'deployment.environment': 'probe' }),
  spanProcessors: [new BatchSpanProcessor(recording(spanExporter, results.spans),
    { maxExportBatchSize: cfg.batch || 512, maxQueueSize: 100000, exportTimeoutMillis: timeoutMillis * 3 })],
});
const loggers = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': 'js-rag' }),
  processors: [new BatchLogRecordProcessor({ exporter: recording(logExporter, results.logs), maxQueueSize: 100000 })],
});
const tracer = provider.getTracer('glassline-js-probe', '1.0.0');
const logger = loggers.getLogger('glassline-js-probe');

const base = BigInt(Date.now() - 60_000) * 1_000_000n + 123_456n; // ns precision on purpose
const hr = (ns) => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
const sent = [];
function record(span, parent, startNs, endNs, attrs, extra) {
  const c = span.spanContext();
  sent.push({ trace_id: c.traceId, span_id: c.spanId, parent_span_id: parent ? parent.spanContext().spanId : null,
    name: span.name, start_ns: String(startNs), end_ns: String(endNs), attributes: attrs, ...extra });
}

for (let t = 0; t < (cfg.traces || 1); t++) {
  const t0 = base + BigInt(t) * 10_000_000n;
  const rootStart = t0, rootEnd = t0 + 2_000_000_000n;
  const rootAttrs = { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'support', 'user.id': 'u-js', 'session.id': 's-js' };
  const root = tracer.startSpan('invoke_agent support', { startTime: hr(rootStart), attributes: rootAttrs });
  root.name = 'invoke_agent support';
  const rctx = api.trace.setSpan(api.context.active(), root);

  const llmAttrs = {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai',
    'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-2024-08-06',
    'gen_ai.usage.input_tokens': 1200, 'gen_ai.usage.output_tokens': 300,
    'gen_ai.request.temperature': 0.2, 'gen_ai.request.max_tokens': 512,
    'gen_ai.response.finish_reasons': ['stop'], 'gen_ai.response.id': `chatcmpl-${t}`,
    'server.address': 'api.openai.com', 'app.flags': [true, false], 'app.scores': [1.5, 2.25],
  };
  const s1 = t0 + 100_000_001n, e1 = t0 + 900_000_007n;
  const link = { context: root.spanContext(), attributes: { 'link.kind': 'cause' } };
  const llm = tracer.startSpan('chat gpt-4o', { kind: api.SpanKind.CLIENT, startTime: hr(s1), attributes: llmAttrs, links: [link] }, rctx);
  llm.addEvent('gen_ai.content.chunk', { 'chunk.index': 1 }, hr(s1 + 180_000_000n));
  const lctx = api.trace.setSpan(api.context.active(), llm);
  if (cfg.logs) {
    logger.emit({ eventName: 'gen_ai.user.message', context: lctx, timestamp: hr(s1),
      attributes: { 'gen_ai.provider.name': 'openai' }, body: { content: 'What is the refund policy for order 42?' } });
    logger.emit({ eventName: 'gen_ai.choice', context: lctx, timestamp: hr(e1),
      body: { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Refunds within 30 days.' } } });
  }
  llm.end(hr(e1));
  record(llm, root, s1, e1, llmAttrs, { kind: 'CLIENT', events: 1, links: 1 });

  const a2 = { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-3-5-sonnet-20241022', 'gen_ai.usage.input_tokens': 2000,
    'gen_ai.usage.output_tokens': 100, 'gen_ai.usage.cache_read.input_tokens': 500 };
  const s2 = t0 + 950_000_000n, e2 = t0 + 1_500_000_000n;
  const llm2 = tracer.startSpan('chat claude', { kind: api.SpanKind.CLIENT, startTime: hr(s2), attributes: a2 }, rctx);
  llm2.setStatus({ code: api.SpanStatusCode.ERROR, message: 'overloaded_error' });
  llm2.end(hr(e2));
  record(llm2, root, s2, e2, a2, { kind: 'CLIENT', status: 'error' });

  const a3 = { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'search_orders', 'gen_ai.tool.call.id': `call_${t}` };
  const s3 = t0 + 1_600_000_000n, e3 = t0 + 1_700_000_000n;
  const tool = tracer.startSpan('execute_tool search_orders', { startTime: hr(s3), attributes: a3 }, rctx);
  tool.end(hr(e3));
  record(tool, root, s3, e3, a3, {});

  root.end(hr(rootEnd));
  record(root, null, rootStart, rootEnd, rootAttrs, {});
}

(async () => {
  const flushErrors = [];
  for (const step of [() => provider.forceFlush(), () => loggers.forceFlush(), () => provider.shutdown(), () => loggers.shutdown()]) {
    try { await step(); } catch (e) { flushErrors.push(String(e && e.message || e)); }
  }
  results.flushErrors = flushErrors;
  process.stdout.write(JSON.stringify({ sent, results }) + '\n');
})();
