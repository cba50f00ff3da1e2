package worker

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	judged     *prometheus.CounterVec
	duration   prometheus.Histogram
	failures   prometheus.Counter
	queueDepth prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		judged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_judge_submissions_total", Help: "Submissions judged, by verdict and language."}, []string{"verdict", "language"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "luffy_judge_duration_seconds", Help: "Time from claim to verdict.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120}}),
		failures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_judge_failures_total", Help: "Submissions the judge itself failed on (handed back to the queue or judged IE)."}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "luffy_judge_queue_depth", Help: "Submissions queued or being judged."}),
	}
	if reg != nil {
		reg.MustRegister(m.judged, m.duration, m.failures, m.queueDepth)
	}
	return m
}
