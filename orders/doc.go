// Package orders is the transactional core of buying courses. For now it holds
// enrollments, the record that lets a student watch a paid course until a date; carts,
// coupons, orders and payments that grant them arrive with the rest of the core.
package orders
