// Package orders is the transactional core of buying courses: carts, coupons, orders,
// payments and the enrollments they grant.
//
// An order is created pending in one transaction that snapshots its lines, takes a use
// of its coupon (the coupon row's CHECK makes overselling impossible), holds its points
// (a pending ledger transfer) and inserts the river job that expires it. From pending it
// moves exactly once: to paid by the gateway's signed callback (or by reconciliation,
// which asks the gateway about orders whose callback never came), or to cancelled or
// expired, which give the coupon use and the points back. Every move locks the order row
// and re-checks its status, so duplicate, late and racing callbacks, cancels and expiry
// jobs change nothing twice; payment events are recorded once per gateway event id.
package orders
