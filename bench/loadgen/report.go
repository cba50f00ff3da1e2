package loadgen

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"strings"
)

// Summary writes the human summary of a run.
func (r *Result) Summary(w io.Writer) {
	fmt.Fprintf(w, "%s against %s: %d connections (%d open; the server counted %d), %.0f req/s for %.0fs\n", r.Scenario, r.Target, r.Connections, r.ConnectionsOpen, r.ServerConnections, r.Rate, r.DurationS)
	fmt.Fprintf(w, "  sent %d of %d scheduled (%.1f req/s achieved), completed %d, late %d, never sent %d\n", r.Sent, r.Scheduled, r.AchievedRate, r.Completed, r.Late, r.Dropped)
	row := func(name string, p Percentiles) {
		fmt.Fprintf(w, "  %-12s p50 %8.2f  p90 %8.2f  p99 %8.2f  p99.9 %8.2f  max %8.2f ms\n", name, p.P50, p.P90, p.P99, p.P999, p.Max)
	}
	row("corrected", r.Corrected)
	row("uncorrected", r.Uncorrected)
	var errs []string
	for k, n := range r.Errors {
		errs = append(errs, fmt.Sprintf("%s %d", k, n))
	}
	if len(errs) == 0 {
		errs = []string{"none"}
	}
	fmt.Fprintf(w, "  errors: %s (rate %.4f)\n", strings.Join(errs, ", "), r.ErrorRate())
	if r.Valid {
		fmt.Fprintln(w, "  valid: the generator kept its schedule")
	} else {
		fmt.Fprintln(w, "  INVALID:", r.Invalid)
	}
}

// WriteHTML writes a self-contained report (inline SVG, no scripts or fonts fetched):
// latency over time and the percentile distributions.
func (r *Result) WriteHTML(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return reportTmpl.Execute(f, map[string]any{
		"R":        r,
		"Timeline": template.HTML(timelineSVG(r.Seconds)),
		"Spectrum": template.HTML(spectrumSVG(r.CorrectedHistogram, r.UncorrectedHistogram)),
		"Summary":  summaryText(r),
	})
}

func summaryText(r *Result) string {
	var b strings.Builder
	r.Summary(&b)
	return b.String()
}

const w, h, pad = 760.0, 260.0, 40.0

func polyline(pts [][2]float64, color string) string {
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", p[0], p[1])
	}
	return fmt.Sprintf(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, b.String())
}

func frame(yMax float64, xLabel, yLabel string) string {
	return fmt.Sprintf(`<rect x="%[1]g" y="%[2]g" width="%[3]g" height="%[4]g" fill="none" stroke="#999"/>`+
		`<text x="%[1]g" y="%[5]g" font-size="11">%.1[6]f ms</text><text x="%[1]g" y="%[7]g" font-size="11">0</text>`+
		`<text x="%[8]g" y="%[7]g" font-size="11" text-anchor="end">%[9]s</text><text x="%[1]g" y="12" font-size="11">%[10]s</text>`,
		pad, pad/2, w-2*pad, h-pad*1.5, pad/2-4, yMax, h-pad+14, w-pad, xLabel, yLabel)
}

func timelineSVG(secs []Second) string {
	if len(secs) == 0 {
		return "<p>no per-second data</p>"
	}
	yMax := 1.0
	for _, s := range secs {
		yMax = math.Max(yMax, s.P99Ms)
	}
	x := func(i int) float64 { return pad + (w-2*pad)*float64(i)/math.Max(1, float64(len(secs)-1)) }
	y := func(v float64) float64 { return h - pad - (h-pad*1.5)*v/yMax }
	var p50, p99 [][2]float64
	for i, s := range secs {
		p50 = append(p50, [2]float64{x(i), y(s.P50Ms)})
		p99 = append(p99, [2]float64{x(i), y(s.P99Ms)})
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g">%s%s%s</svg>`, w, h,
		frame(yMax, fmt.Sprintf("%d s", len(secs)), "corrected latency per second: p50 (blue), p99 (red)"), polyline(p50, "#2a6fdb"), polyline(p99, "#d33"))
}

func spectrumSVG(corrected, uncorrected []Bucket) string {
	if len(corrected) == 0 {
		return ""
	}
	yMax := 1.0
	for _, b := range corrected {
		yMax = math.Max(yMax, b.Ms)
	}
	// x: the number of nines, so the tail gets the room it deserves
	x := func(q float64) float64 {
		n := -math.Log10(math.Max(1e-6, 1-q/100))
		return pad + (w-2*pad)*n/6
	}
	y := func(v float64) float64 { return h - pad - (h-pad*1.5)*v/yMax }
	pts := func(bs []Bucket) [][2]float64 {
		var out [][2]float64
		for _, b := range bs {
			out = append(out, [2]float64{x(b.Percentile), y(b.Ms)})
		}
		return out
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g">%s%s%s</svg>`, w, h,
		frame(yMax, "percentile: 0 → 90 → 99 → 99.9 → 99.99 → 99.999", "latency by percentile: corrected (red), uncorrected (grey)"),
		polyline(pts(uncorrected), "#999"), polyline(pts(corrected), "#d33"))
}

var reportTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>luffy bench: {{.R.Scenario}}</title>
<style>body{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}pre{background:#f5f5f5;padding:1em}
.bad{color:#b00;font-weight:bold}</style></head><body>
<h1>luffy bench: {{.R.Scenario}}</h1>
<p>{{.R.Target}}, started {{.R.Started.Format "2006-01-02 15:04:05 MST"}}{{if not .R.Valid}} — <span class="bad">INVALID: {{.R.Invalid}}</span>{{end}}</p>
<pre>{{.Summary}}</pre>
<h2>Latency over time</h2>{{.Timeline}}
<h2>Latency by percentile</h2>{{.Spectrum}}
<p>Corrected latencies count from when each request was due; uncorrected ones from when it was sent.</p>
</body></html>
`))
