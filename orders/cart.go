package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CartLine is a course in a cart, at its current price.
type CartLine struct {
	CourseID         int64  `json:"course_id"`
	PricePolicyID    int64  `json:"price_policy_id"`
	CourseTitle      string `json:"course_title"`
	PolicyTitle      string `json:"policy_title"`
	ValidDays        *int32 `json:"valid_days"`
	PriceFen         int64  `json:"price_fen"`
	OriginalPriceFen int64  `json:"original_price_fen"`
	// Available is false once the course or price policy can no longer be bought.
	Available bool      `json:"available"`
	AddedAt   time.Time `json:"added_at"`
}

// offer is a price policy of a course as the shop may sell it.
type offer struct {
	courseID, policyID       int64
	courseTitle, policyTitle string
	validDays                *int32
	priceFen, originalFen    int64
	sellable                 bool
}

// offersSQL joins from unnest rather than testing p.id = ANY($1): Postgres plans the
// ANY form anew on every execution (its custom plan looks cheaper than the generic one),
// which cost more than running it.
const offersSQL = `
	SELECT p.id, c.id, c.title, p.title, p.valid_days, p.price_fen, p.original_price_fen,
		p.status = 'enabled' AND p.deleted_at IS NULL AND c.status = 'published' AND c.deleted_at IS NULL
	FROM unnest($1::bigint[]) want (id) JOIN price_policies p ON p.id = want.id JOIN courses c ON c.id = p.course_id`

// offers reads the price policies ids with their courses.
func offers(ctx context.Context, q querier, ids []int64) (map[int64]offer, error) {
	rows, err := q.Query(ctx, offersSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("read price policies: %w", err)
	}
	return scanOffers(rows)
}

// scanOffers reads the rows of offersSQL by policy id, and closes them.
func scanOffers(rows pgx.Rows) (map[int64]offer, error) {
	out := map[int64]offer{}
	var o offer
	_, err := pgx.ForEachRow(rows, []any{&o.policyID, &o.courseID, &o.courseTitle, &o.policyTitle, &o.validDays, &o.priceFen, &o.originalFen, &o.sellable},
		func() error {
			out[o.policyID] = o
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read price policies: %w", err)
	}
	return out, nil
}

// checkItem says why item cannot be bought, or returns its offer.
func checkItem(item Item, byPolicy map[int64]offer) (offer, error) {
	o, ok := byPolicy[item.PricePolicyID]
	if !ok || o.courseID != item.CourseID {
		return offer{}, &InputError{"items", fmt.Sprintf("price policy %d is not a price of course %d", item.PricePolicyID, item.CourseID)}
	}
	if !o.sellable {
		return offer{}, &InputError{"items", fmt.Sprintf("course %d is not on sale at price policy %d", item.CourseID, item.PricePolicyID)}
	}
	return o, nil
}

func enrolled(ctx context.Context, q querier, userID, courseID int64) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'active'
		AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > now()))`, userID, courseID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check enrollment of user %d in course %d: %w", userID, courseID, err)
	}
	return ok, nil
}

// CartAdd puts a course in the user's cart at a price policy, or changes the policy of
// a course already there. A cart holds at most MaxOrderItems courses, what one order may
// buy (two adds at once may pass that by one; the order from the cart still refuses).
func (s *Shop) CartAdd(ctx context.Context, userID, courseID, pricePolicyID int64) error {
	item := Item{CourseID: courseID, PricePolicyID: pricePolicyID}
	byPolicy, err := offers(ctx, s.pool, []int64{pricePolicyID})
	if err != nil {
		return err
	}
	if _, err := checkItem(item, byPolicy); err != nil {
		return err
	}
	if ok, err := enrolled(ctx, s.pool, userID, courseID); err != nil {
		return err
	} else if ok {
		return &InputError{"course_id", fmt.Sprintf("already enrolled in course %d", courseID)}
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO cart_items (user_id, course_id, price_policy_id, created_by) SELECT $1, $2, $3, $1
		WHERE (SELECT count(*) FROM cart_items WHERE user_id = $1 AND course_id <> $2 AND deleted_at IS NULL) < $4
		ON CONFLICT (user_id, course_id) WHERE deleted_at IS NULL DO UPDATE SET price_policy_id = EXCLUDED.price_policy_id`,
		userID, courseID, pricePolicyID, MaxOrderItems)
	if err != nil {
		return fmt.Errorf("add course %d to cart of user %d: %w", courseID, userID, err)
	}
	if tag.RowsAffected() == 0 {
		return &InputError{"course_id", fmt.Sprintf("the cart holds %d courses, as many as one order may buy", MaxOrderItems)}
	}
	return nil
}

// CartRemove takes a course out of the user's cart.
func (s *Shop) CartRemove(ctx context.Context, userID, courseID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE cart_items SET deleted_at = now() WHERE user_id = $1 AND course_id = $2 AND deleted_at IS NULL`,
		userID, courseID)
	if err != nil {
		return fmt.Errorf("remove course %d from cart of user %d: %w", courseID, userID, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Cart returns the user's cart, oldest first.
func (s *Shop) Cart(ctx context.Context, userID int64) ([]CartLine, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, p.id, c.title, p.title, p.valid_days, p.price_fen, p.original_price_fen,
			p.status = 'enabled' AND p.deleted_at IS NULL AND c.status = 'published' AND c.deleted_at IS NULL, i.created_at
		FROM cart_items i JOIN courses c ON c.id = i.course_id JOIN price_policies p ON p.id = i.price_policy_id
		WHERE i.user_id = $1 AND i.deleted_at IS NULL ORDER BY i.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read cart of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CartLine, error) {
		var l CartLine
		err := r.Scan(&l.CourseID, &l.PricePolicyID, &l.CourseTitle, &l.PolicyTitle, &l.ValidDays, &l.PriceFen,
			&l.OriginalPriceFen, &l.Available, &l.AddedAt)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("read cart of user %d: %w", userID, err)
	}
	if out == nil {
		out = []CartLine{}
	}
	return out, nil
}

const cartItemsSQL = `SELECT course_id, price_policy_id FROM cart_items WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id`

// queueCart queues on b the read of the user's cart as order items into items.
func queueCart(b *pgx.Batch, userID int64, items *[]Item) {
	b.Queue(cartItemsSQL, userID).Query(func(rows pgx.Rows) error {
		var err error
		*items, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Item])
		return err
	})
}
