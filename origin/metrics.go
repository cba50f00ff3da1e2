package origin

import (
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/luffy-edu/luffy/features"
)

// route names a handler for metrics; labels come from this fixed set, never from paths.
type route uint8

const (
	routeUnknown route = iota
	routeCategories
	routeCourses
	routeCourse
	routeRegister
	routeLogin
	routeLogout
	routeMe
	routeAdminCourses
	routeAdminCourse
	routeAdminReorder
	routeMetrics
	routeHealthz
	routeReadyz
	routeVideo
	routePlay
	routePublicKey
	routeProblems
	routeProblem
	routeSubmit
	routeSubmissions
	routeSubmission
	routeSubmissionEvents
	routeWrongBook
	routeAdminProblems
	routeAdminProblemTests
	routeCart
	routeOrders
	routeOrder
	routePaymentCallback
	routePoints
	routeAdminCommerce
	routeNotifications
	routeHomework
	routeQuestions
	routeTutor
	routeMyCourses
	routeWeb
	numRoutes
)

var routeNames = [numRoutes]string{"unknown", "categories", "courses", "course", "auth_register", "auth_login",
	"auth_logout", "auth_me", "admin_courses", "admin_course", "admin_reorder", "metrics", "healthz", "readyz", "video", "lesson_play", "video_public_key",
	"problems", "problem", "submit", "submissions", "submission", "submission_events", "wrong_book", "admin_problems", "admin_problem_tests",
	"cart", "orders", "order", "payment_callback", "points", "admin_commerce", "notifications", "homework", "questions", "tutor", "my_courses", "web"}

// statuses that get a pre-resolved counter, so that counting them allocates nothing.
var commonStatuses = []int{200, 201, 304, 400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 500, 503}

type routeStats struct {
	latency  prometheus.Observer
	byStatus [600]prometheus.Counter
}

type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	routes    [numRoutes]routeStats
	hits      prometheus.Counter
	misses    prometheus.Counter
	notifies  *prometheus.CounterVec
	listening prometheus.Gauge

	segmentHits, segmentMisses prometheus.Counter

	orders    *prometheus.CounterVec // by event: created, paid, cancelled, expired, refunded
	callbacks *prometheus.CounterVec // payment callbacks by outcome
	limited   *prometheus.CounterVec // requests refused by a rate limit, by ip or user; connections over the cap (conns)
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luffy_http_requests_total", Help: "HTTP requests answered, by route and status.",
		ConstLabels: prometheus.Labels{"service": "origin"},
	}, []string{"route", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "luffy_http_request_duration_seconds", Help: "Time from request parsed to response ready, by route.",
		ConstLabels: prometheus.Labels{"service": "origin"},
		Buckets:     []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	for r := range numRoutes {
		m.routes[r].latency = latency.WithLabelValues(routeNames[r])
		for _, st := range commonStatuses {
			m.routes[r].byStatus[st] = m.requests.WithLabelValues(routeNames[r], strconv.Itoa(st))
		}
	}
	m.hits = prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_origin_cache_hits_total", Help: "Catalog responses served from the response cache."})
	m.misses = prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_origin_cache_misses_total", Help: "Catalog responses rendered from Postgres."})
	m.notifies = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "luffy_origin_cache_invalidations_total", Help: "Invalidations received: course (named courses), all (whole catalog), flush (listener reconnected).",
	}, []string{"kind"})
	m.orders = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_orders_total",
		Help: "Order events this origin committed: created, paid, cancelled, expired, refunded."}, []string{"event"})
	m.callbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_payment_callbacks_total",
		Help: "Payment gateway callbacks by outcome: paid, duplicate, unknown_order, amount_mismatch, late, ignored, bad_signature, error."}, []string{"outcome"})
	for _, e := range []string{"created", "paid", "cancelled", "expired", "refunded"} {
		m.orders.WithLabelValues(e)
	}
	for _, o := range []string{"paid", "duplicate", "unknown_order", "amount_mismatch", "late", "ignored", "bad_signature", "error"} {
		m.callbacks.WithLabelValues(o)
	}
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "luffy_limited_total",
		Help: "Requests refused with 429 by the per-address (ip) or per-user (user) rate, and connections closed over the per-address cap (conns).", ConstLabels: prometheus.Labels{"service": "origin"}}, []string{"by"})
	for _, by := range []string{"ip", "user", "conns"} {
		m.limited.WithLabelValues(by)
	}
	reg.MustRegister(m.limited)
	for _, f := range features.All {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_feature_enabled",
			Help: "1 while the feature switch is on, 0 while it is off.", ConstLabels: prometheus.Labels{"feature": string(f)}},
			func() float64 { return b2f(s.features.Enabled(f)) }))
	}
	m.listening = prometheus.NewGauge(prometheus.GaugeOpts{Name: "luffy_origin_invalidation_listener_up", Help: "1 while the LISTEN connection for catalog changes is up; the cache is bypassed while it is 0."})
	m.segmentHits = prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_origin_segment_cache_hits_total", Help: "HLS playlists and segments served from memory."})
	m.segmentMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "luffy_origin_segment_cache_misses_total", Help: "HLS playlists and segments read from the object store."})
	reg.MustRegister(m.segmentHits, m.segmentMisses,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_origin_segment_cache_bytes", Help: "Bytes of hot segments held in memory."},
			func() float64 { return float64(s.hotObjects.Metrics.CostAdded() - s.hotObjects.Metrics.CostEvicted()) }))
	rc := s.cache.c
	reg.MustRegister(m.requests, latency, m.hits, m.misses, m.notifies, m.listening,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luffy_origin_cache_evictions_total", Help: "Entries evicted from the response cache to stay in budget."},
			func() float64 { return float64(rc.Metrics.KeysEvicted()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luffy_origin_cache_rejected_sets_total", Help: "Entries the admission policy refused."},
			func() float64 { return float64(rc.Metrics.SetsRejected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_origin_cache_bytes", Help: "Bytes held by the response cache."},
			func() float64 { return float64(rc.Metrics.CostAdded() - rc.Metrics.CostEvicted()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_origin_cache_budget_bytes", Help: "Byte budget of the response cache."},
			func() float64 { return float64(rc.MaxCost()) }),
		m.orders, m.callbacks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_pg_replica_in_use", Help: "1 while catalog reads go to the read replica; 0 while they go to the primary (no replica, down, lagging, or a change just made)."},
			func() float64 { return b2f(s.reads.UsingReplica()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_pg_replica_lag_seconds", Help: "The read replica's replay lag at its last check; -1 without a replica or when it did not answer."},
			func() float64 {
				if l := s.reads.Lag(); l >= 0 {
					return l.Seconds()
				}
				return -1
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_origin_submission_streams", Help: "Submission event streams open now."},
			func() float64 { return float64(s.events.open.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_origin_submission_listener_up", Help: "1 while the LISTEN connection for submission events is up; streams fall back to polling while it is 0."},
			func() float64 {
				if s.events.up.Load() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_http_open_connections", Help: "Client connections open now.", ConstLabels: prometheus.Labels{"service": "origin"}},
			func() float64 { return float64(s.srv.GetOpenConnectionsCount()) }),
	)
	registerPoolMetrics(reg, s.pool)
	return m
}

func registerPoolMetrics(reg *prometheus.Registry, pool *pgxpool.Pool) {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "luffy_pg_pool_" + name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	counter := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "luffy_pg_pool_" + name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	reg.MustRegister(
		gauge("acquired_conns", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("idle_conns", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("total_conns", "Open connections.", func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		gauge("max_conns", "Pool size limit.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		counter("acquires_total", "Connection acquisitions.", func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
		counter("empty_acquires_total", "Acquisitions that had to wait for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		counter("acquire_wait_seconds_total", "Time spent waiting for connections.", func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
	)
}

func (m *metrics) observe(r route, status int, took time.Duration) {
	rm := &m.routes[r]
	rm.latency.Observe(took.Seconds())
	if status > 0 && status < len(rm.byStatus) && rm.byStatus[status] != nil {
		rm.byStatus[status].Inc()
		return
	}
	m.requests.WithLabelValues(routeNames[r], strconv.Itoa(status)).Inc()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
