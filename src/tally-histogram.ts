// TallyHistogram: a Prometheus histogram with one label whose hot path is an array increment.
// prom-client's observe() builds, validates and hashes a label object on every call (~0.35 µs),
// and the processing-time histogram is observed once per completed task. Counts live in plain
// arrays per label value; the registry reads them as the usual _bucket/_sum/_count series.

import { Histogram, type HistogramConfiguration, type MetricObjectWithValues, type MetricType, type MetricValueWithName } from "prom-client";

/** One label value's counts: per bucket (not cumulative), plus sum and count. */
export interface Tally {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface TallyHistogramConfig {
  name: string;
  help: string;
  labelName: string;
  /** Upper bounds, ascending; +Inf is implied. */
  buckets: readonly number[];
  registers: HistogramConfiguration<string>["registers"];
}

/**
 * Read by the registry through get() like any prom-client Histogram; fed only through
 * tally()/record(), never observe() (the base class's own storage stays empty).
 */
export class TallyHistogram extends Histogram {
  private readonly tallies = new Map<string, Tally>();
  private readonly metricName: string;
  private readonly helpText: string;
  private readonly labelName: string;
  private readonly bounds: Float64Array;

  constructor(config: TallyHistogramConfig) {
    super({ name: config.name, help: config.help, labelNames: [config.labelName], buckets: [...config.buckets], registers: config.registers });
    this.metricName = config.name;
    this.helpText = config.help;
    this.labelName = config.labelName;
    this.bounds = Float64Array.from(config.buckets);
  }

  /** The counts of one label value, created at first use; keep it to record without a lookup. */
  tally(labelValue: string): Tally {
    let t = this.tallies.get(labelValue);
    if (t === undefined) {
      t = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.tallies.set(labelValue, t);
    }
    return t;
  }

  record(t: Tally, value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    t.counts[i]!++;
    t.sum += value;
    t.count++;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    for (const [labelValue, t] of this.tallies) {
      const base: Record<string, string | number> = { [this.labelName]: labelValue };
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += t.counts[i]!;
        // `le` first, as prom-client orders a bucket's labels.
        const labels = { le: i < this.bounds.length ? this.bounds[i]! : "+Inf", ...base };
        values.push({ metricName: `${this.metricName}_bucket`, labels, value: cumulative });
      }
      values.push({ metricName: `${this.metricName}_sum`, labels: base, value: t.sum });
      values.push({ metricName: `${this.metricName}_count`, labels: base, value: t.count });
    }
    // prom-client's typings declare `type` a numeric enum its JavaScript never exports; at run
    // time (and in the exposition text) it is the string every built-in metric carries.
    const type = "histogram" as unknown as MetricType;
    return { name: this.metricName, help: this.helpText, type, aggregator: "sum", collect: () => {}, values };
  }

  /** The registry's text exposition prefers this method where a metric has it, as Histogram does. */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }

  override reset(): void {
    super.reset();
    // Zeroed in place: callers keep their Tally to record without a lookup. The base constructor
    // calls reset() too, before this class's fields exist.
    for (const t of (this.tallies as Map<string, Tally> | undefined)?.values() ?? []) {
      t.counts.fill(0);
      t.sum = 0;
      t.count = 0;
    }
  }
}
