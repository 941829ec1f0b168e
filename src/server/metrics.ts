/** The Prometheus metrics of `bike serve` (GET /metrics), on a registry of its own. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'bike_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'bike_http_request_duration_seconds',
    help: 'Time from request to response, by route',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueLength = new Gauge({
    name: 'bike_queue_length',
    help: 'Classification requests admitted and not yet answered (uploading, decoding or waiting for the model)',
    registers: [this.registry],
  });
  readonly waitingForModel = new Gauge({
    name: 'bike_batch_waiting',
    help: 'Decoded clips waiting for a forward pass',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'bike_queue_rejected_total',
    help: 'Requests refused with 503 because the queue was full',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'bike_batch_size',
    help: 'Clips per forward pass',
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32],
    registers: [this.registry],
  });
  readonly modelSeconds = new Histogram({
    name: 'bike_model_duration_seconds',
    help: 'Time of one forward pass',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly decodeSeconds = new Histogram({
    name: 'bike_decode_duration_seconds',
    help: 'Time to decode and transform one upload',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly labelSets = new Gauge({
    name: 'bike_label_sets_cached',
    help: 'Label sets whose prompt features are cached',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bike_' });
  }
}
