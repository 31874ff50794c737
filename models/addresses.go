package models

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AddressUsage is an address with the number of shipments that refer to it
// in any role.
type AddressUsage struct {
	Address
	UsageCount int64 `json:"usage_count"`
}

// usageCount counts references per role so that each count uses its
// foreign-key index (an OR across the four columns would not).
const usageCount = `(SELECT count(*) FROM shipments s WHERE s.from_address_id = addresses.id)
	+ (SELECT count(*) FROM shipments s WHERE s.to_address_id = addresses.id)
	+ (SELECT count(*) FROM shipments s WHERE s.return_address_id = addresses.id)
	+ (SELECT count(*) FROM shipments s WHERE s.buyer_address_id = addresses.id) AS usage_count`

// AddressFilter selects the addresses of a list.
type AddressFilter struct {
	Page
	Country *string
	State   *string
	City    *string
}

// CreateAddress validates and stores a, filling in what the database set.
func (s *Store) CreateAddress(ctx context.Context, a *Address) error {
	var v ValidationError
	a.Validate("", &v)
	if err := v.Err(); err != nil {
		return err
	}
	return create(ctx, s, a, "address")
}

// Address returns the address with its usage count, or ErrNotFound.
func (s *Store) Address(ctx context.Context, id uuid.UUID) (AddressUsage, error) {
	return byID[AddressUsage](ctx, s.conn(ctx).Table("addresses").Select("addresses.*, "+usageCount), id, "address")
}

// Addresses returns a page of addresses with their usage counts, and
// whether there are more.
func (s *Store) Addresses(ctx context.Context, f AddressFilter) ([]AddressUsage, bool, error) {
	q := s.conn(ctx).Table("addresses").Select("addresses.*, " + usageCount)
	for _, eq := range []struct {
		col string
		val *string
	}{{"country", f.Country}, {"state", f.State}, {"city", f.City}} {
		if eq.val != nil {
			q = q.Where("addresses."+eq.col+" = ?", *eq.val)
		}
	}
	rows, more, err := list[AddressUsage](ctx, q, "addresses", f.Page)
	if err != nil {
		return nil, false, fmt.Errorf("addresses: %w", err)
	}
	return rows, more, nil
}

// UpdateAddress locks the address and calls apply with it as a client
// sees it (usage count included, for If-Match) and a copy to change; apply
// returns the columns it changed. The result is validated and written,
// and returned with its usage count, read in the same transaction.
func (s *Store) UpdateAddress(ctx context.Context, id uuid.UUID, apply func(cur AddressUsage, a *Address) ([]string, error)) (AddressUsage, error) {
	var out AddressUsage
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		var cur AddressUsage
		err := tx.Table("addresses").Select("addresses.*, "+usageCount).
			Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "addresses"}}).
			Take(&cur, "addresses.id = ?", id).Error
		if err != nil {
			return classify(err)
		}
		a := cur.Address
		cols, err := apply(cur, &a)
		if err != nil {
			return err
		}
		var v ValidationError
		a.Validate("", &v)
		if err := v.Err(); err != nil {
			return err
		}
		if len(cols) > 0 {
			if err := tx.Model(&a).Select(cols).Updates(&a).Error; err != nil {
				return classify(err)
			}
		}
		if err := recordRow(ctx, tx.Statement.ConnPool, "address", "update", nil, id, 200); err != nil {
			return err
		}
		out, err = s.Address(withTx(ctx, tx), id)
		return err
	})
	if err != nil {
		return AddressUsage{}, fmt.Errorf("update address %s: %w", id, err)
	}
	return out, nil
}

// DeleteAddress deletes an address. It returns ErrConflict while a
// shipment refers to it, ErrNotFound if there is none.
func (s *Store) DeleteAddress(ctx context.Context, id uuid.UUID) error {
	return deleteByID[Address](ctx, s, id, "address")
}
