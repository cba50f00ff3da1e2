package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

type metrics struct {
	handler  fasthttp.RequestHandler
	requests *prometheus.CounterVec
	byStatus [600]prometheus.Counter
	latency  prometheus.Observer

	hits, misses, stale, staleErrors, coalesced, refreshes, prefetches, refused prometheus.Counter
	prefetchSkipped                                                             prometheus.Counter
	purges, cacheBytes, originBytes                                             prometheus.Counter
	originLatency                                                               prometheus.Observer
	limited                                                                     *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	root := prometheus.NewRegistry()
	// every series carries the worker it comes from: with --workers, each process has
	// its own counters
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"worker": strconv.Itoa(s.cfg.WorkerID)}, root)
	m := &metrics{}
	labels := prometheus.Labels{"service": "edge"}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_http_requests_total", Help: "HTTP requests answered, by status.", ConstLabels: labels}, []string{"route", "status"})
	for _, st := range []int{200, 204, 206, 304, 400, 401, 403, 404, 405, 416, 429, 500, 502, 503} {
		m.byStatus[st] = m.requests.WithLabelValues("edge", strconv.Itoa(st))
	}
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "luffy_http_request_duration_seconds", Help: "Time from request read to response ready.", ConstLabels: labels,
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	m.latency = lat
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_limited_total",
		Help: "Requests refused with 429 by the per-address rate (ip), and connections closed over the per-address cap (conns).", ConstLabels: labels}, []string{"by"})
	m.limited.WithLabelValues("ip")
	m.limited.WithLabelValues("conns")
	reg.MustRegister(m.limited)
	c := func(name, help string) prometheus.Counter {
		ctr := prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_edge_" + name, Help: help})
		reg.MustRegister(ctr)
		return ctr
	}
	m.hits = c("cache_hits_total", "Requests answered from a fresh cached response.")
	m.misses = c("cache_misses_total", "Requests that needed an origin fetch.")
	m.stale = c("stale_served_total", "Stale responses served while refreshing (stale-while-revalidate).")
	m.staleErrors = c("stale_if_error_served_total", "Stale responses served because origins failed (stale-if-error).")
	m.coalesced = c("coalesced_requests_total", "Misses that waited for another request's origin fetch instead of making one.")
	m.refreshes = c("background_refreshes_total", "Background refreshes of stale entries.")
	m.prefetches = c("prefetches_total", "Segments fetched ahead of viewers.")
	m.prefetchSkipped = c("prefetches_skipped_total", "Prefetches not started because enough were in flight.")
	m.refused = c("video_refused_total", "Video requests refused for their token or Referer.")
	m.purges = c("purges_total", "URLs and surrogate keys purged.")
	m.cacheBytes = c("bytes_from_cache_total", "Body bytes served from the cache.")
	m.originBytes = c("bytes_from_origin_total", "Body bytes fetched from origins.")
	ol := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "luffy_edge_origin_duration_seconds", Help: "Origin fetch latency.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}})
	m.originLatency = ol
	rc := s.cache
	reg.MustRegister(m.requests, lat, ol, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_http_open_connections", Help: "Client connections open now.", ConstLabels: labels},
			func() float64 { return float64(s.srv.GetOpenConnectionsCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_edge_cache_bytes", Help: "Bytes held by the cache."},
			func() float64 { return float64(rc.Metrics.CostAdded() - rc.Metrics.CostEvicted()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luffy_edge_cache_evictions_total", Help: "Entries evicted to stay in budget."},
			func() float64 { return float64(rc.Metrics.KeysEvicted()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_edge_hit_ratio", Help: "Fresh hits over all cacheable requests since start."},
			func() float64 {
				h, mi := readCounter(m.hits), readCounter(m.misses)+readCounter(m.stale)
				if h+mi == 0 {
					return 0
				}
				return h / (h + mi)
			}),
	)
	reg.MustRegister(&originCollector{pool: s.pool, desc: prometheus.NewDesc("luffy_edge_origin_up",
		"1 while an origin passes health checks and is not ejected.", []string{"origin"}, nil)})
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(root, promhttp.HandlerOpts{}))
	return m
}

func readCounter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// originCollector reports each origin's health as it is at scrape time.
type originCollector struct {
	pool *Pool
	desc *prometheus.Desc
}

func (c *originCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *originCollector) Collect(ch chan<- prometheus.Metric) {
	for _, o := range c.pool.Origins() {
		v := 0.0
		if o.Healthy() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, o.BaseURL)
	}
}

func (m *metrics) serve(ctx *fasthttp.RequestCtx) { m.handler(ctx) }

func (m *metrics) observe(status int, took time.Duration) {
	m.latency.Observe(took.Seconds())
	if status > 0 && status < len(m.byStatus) && m.byStatus[status] != nil {
		m.byStatus[status].Inc()
		return
	}
	m.requests.WithLabelValues("edge", strconv.Itoa(status)).Inc()
}
