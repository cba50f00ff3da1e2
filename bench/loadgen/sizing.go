package loadgen

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Sizing is what a site needs for a number of concurrent users, from one measured node.
type Sizing struct {
	Users            int     `json:"users"`
	UserRate         float64 `json:"user_rate"`            // requests per second per user, as measured
	Headroom         float64 `json:"headroom"`             // spare capacity kept per node
	ConnsPerNode     int     `json:"connections_per_node"` // what one node held within the p99 limit
	RatePerNode      float64 `json:"rate_per_node"`
	Nodes            int     `json:"nodes"`
	NodesByRate      int     `json:"nodes_by_rate"`
	NodesConnections int     `json:"nodes_by_connections"`
}

// Size works out the edge nodes users concurrent users need, given a valid result of one
// node that held its connections within its limits: enough nodes for both the
// connections and the request rate, each loaded to (1 - headroom) of what was measured.
func Size(r *Result, users int, headroom float64) (Sizing, error) {
	if !r.Valid {
		return Sizing{}, fmt.Errorf("the result is invalid (%s): measure again", r.Invalid)
	}
	if r.ConnectionsOpen == 0 || r.AchievedRate == 0 || users <= 0 || headroom < 0 || headroom >= 1 {
		return Sizing{}, errors.New("need a result with connections and requests, users > 0 and 0 <= headroom < 1")
	}
	s := Sizing{Users: users, Headroom: headroom, ConnsPerNode: r.ConnectionsOpen, RatePerNode: r.AchievedRate,
		UserRate: r.AchievedRate / float64(r.ConnectionsOpen)}
	usable := 1 - headroom
	s.NodesConnections = int(math.Ceil(float64(users) / (float64(s.ConnsPerNode) * usable)))
	s.NodesByRate = int(math.Ceil(float64(users) * s.UserRate / (s.RatePerNode * usable)))
	s.Nodes = max(s.NodesConnections, s.NodesByRate, 1)
	return s, nil
}

// Explain writes the sizing with its assumptions.
func (s Sizing) Explain(w io.Writer, r *Result) {
	fmt.Fprintf(w, "For %d concurrent users: %d edge node(s).\n\n", s.Users, s.Nodes)
	fmt.Fprintf(w, "Measured: one node held %d connections at %.0f req/s (%s) with corrected p99 %.1f ms and error rate %.4f.\n",
		s.ConnsPerNode, s.RatePerNode, r.Scenario, r.Corrected.P99, r.ErrorRate())
	fmt.Fprintf(w, "Assumptions:\n")
	fmt.Fprintf(w, "  - one user is one connection and makes %.3f req/s, the mix and pace of the measured run (%s);\n", s.UserRate, r.Scenario)
	fmt.Fprintf(w, "  - nodes are like the measured one and load balances evenly (the edges' consistent hashing spreads origin fetches, not users);\n")
	fmt.Fprintf(w, "  - each node is run at most %.0f%% of what it held, for failover and peaks;\n", 100*(1-s.Headroom))
	fmt.Fprintf(w, "  - the measured node's limit was not reached: the run held, so it is a lower bound of its capacity.\n")
	fmt.Fprintf(w, "Nodes by connections: %d; by request rate: %d.\n", s.NodesConnections, s.NodesByRate)
}
