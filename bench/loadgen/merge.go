package loadgen

import (
	"errors"
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Merge combines the results of generator processes that shared one run: counts add,
// histograms merge exactly, per-second records add up second by second.
func Merge(parts []*Result) (*Result, error) {
	if len(parts) == 0 {
		return nil, errors.New("nothing to merge")
	}
	out := *parts[0]
	out.Errors, out.StatusCodes = map[string]int64{}, map[int]int64{}
	out.Connections, out.ConnectionsOpen, out.Rate = 0, 0, 0
	out.Scheduled, out.Sent, out.Completed, out.Late, out.Dropped, out.AchievedRate = 0, 0, 0, 0, 0, 0
	out.Seconds = nil
	out.Valid, out.Invalid = true, ""
	corrected, uncorrected := newHist(), newHist()
	bySecond := map[int]*Second{}
	for i, p := range parts {
		if p.CorrectedCounts == nil || p.UncorrectedCounts == nil {
			return nil, fmt.Errorf("part %d has no histogram counts", i)
		}
		corrected.Merge(hdrhistogram.Import(p.CorrectedCounts))
		uncorrected.Merge(hdrhistogram.Import(p.UncorrectedCounts))
		out.Connections += p.Connections
		out.ConnectionsOpen += p.ConnectionsOpen
		out.Rate += p.Rate
		out.Scheduled += p.Scheduled
		out.Sent += p.Sent
		out.Completed += p.Completed
		out.Late += p.Late
		out.Dropped += p.Dropped
		out.AchievedRate += p.AchievedRate
		for k, n := range p.Errors {
			out.Errors[k] += n
		}
		for k, n := range p.StatusCodes {
			out.StatusCodes[k] += n
		}
		for _, s := range p.Seconds {
			m := bySecond[s.At]
			if m == nil {
				m = &Second{At: s.At}
				bySecond[s.At] = m
			}
			m.Requests += s.Requests
			m.Errors += s.Errors
			m.OpenConns += s.OpenConns
			// percentiles of a second cannot be merged exactly from percentiles: the
			// worst part's stands for the second
			m.P50Ms, m.P99Ms, m.MaxMs = max(m.P50Ms, s.P50Ms), max(m.P99Ms, s.P99Ms), max(m.MaxMs, s.MaxMs)
		}
		if !p.Valid && out.Valid {
			out.Valid, out.Invalid = false, fmt.Sprintf("generator %d: %s", i, p.Invalid)
		}
		if p.Started.Before(out.Started) {
			out.Started = p.Started
		}
		out.ServerConnections = max(out.ServerConnections, p.ServerConnections)
	}
	for at := 1; at <= len(bySecond); at++ {
		if s, ok := bySecond[at]; ok {
			out.Seconds = append(out.Seconds, *s)
		}
	}
	if out.Valid && out.ServerConnections >= 0 && float64(out.ServerConnections) < 0.99*float64(out.ConnectionsOpen) {
		out.Valid, out.Invalid = false, fmt.Sprintf("the server counted %d open connections, the generators %d", out.ServerConnections, out.ConnectionsOpen)
	}
	out.Corrected, out.Uncorrected = percentiles(corrected), percentiles(uncorrected)
	out.CorrectedHistogram, out.UncorrectedHistogram = spectrum(corrected), spectrum(uncorrected)
	out.CorrectedCounts, out.UncorrectedCounts = corrected.Export(), uncorrected.Export()
	return &out, nil
}
