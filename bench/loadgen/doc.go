// Package loadgen is the load generator behind `luffy bench`: an open model that measures
// honestly.
//
// Requests are scheduled at a fixed rate, whatever the server does: request i is due at
// start + i/rate. Its latency is measured from that intended time (corrected for
// coordinated omission: a server that stalls is charged for every request the stall
// delayed, not only the few in flight) and, for comparison, from the moment it was
// actually sent (uncorrected). Both go into HDR histograms. Sends that leave late, or
// that no connection was free to take, are counted; a run whose generator fell behind is
// reported invalid rather than fast.
package loadgen
