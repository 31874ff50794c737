package models

import (
	"context"
	"fmt"

	"github.com/google/uuid"
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
	return insert(ctx, s.db, a, "address")
}

// Address returns the address with its usage count, or ErrNotFound.
func (s *Store) Address(ctx context.Context, id uuid.UUID) (AddressUsage, error) {
	return byID[AddressUsage](ctx, s.db.Table("addresses").Select("addresses.*, "+usageCount), id, "address")
}

// Addresses returns a page of addresses with their usage counts, and
// whether there are more.
func (s *Store) Addresses(ctx context.Context, f AddressFilter) ([]AddressUsage, bool, error) {
	q := s.db.Table("addresses").Select("addresses.*, " + usageCount)
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

// UpdateAddress changes an address as apply says (see UpdateShipment) and
// returns it with its usage count.
func (s *Store) UpdateAddress(ctx context.Context, id uuid.UUID, apply func(*Address) ([]string, error)) (AddressUsage, error) {
	_, err := update(ctx, s.db, id, "address", apply, func(a *Address) error {
		var v ValidationError
		a.Validate("", &v)
		return v.Err()
	})
	if err != nil {
		return AddressUsage{}, err
	}
	return s.Address(ctx, id)
}

// DeleteAddress deletes an address. It returns ErrConflict while a
// shipment refers to it, ErrNotFound if there is none.
func (s *Store) DeleteAddress(ctx context.Context, id uuid.UUID) error {
	return deleteByID[Address](ctx, s.db, id, "address")
}
