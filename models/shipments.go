package models

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// Shipment returns the shipment with its addresses, parcel and customs
// info expanded. It returns ErrNotFound if there is no such shipment.
func (s *Store) Shipment(ctx context.Context, id uuid.UUID) (Shipment, error) {
	var sh Shipment
	err := s.db.WithContext(ctx).
		Preload("FromAddress").Preload("ToAddress").Preload("ReturnAddress").Preload("BuyerAddress").
		Preload("Parcel").Preload("CustomsInfo").
		Take(&sh, "id = ?", id).Error
	if err != nil {
		return Shipment{}, fmt.Errorf("shipment %s: %w", id, classify(err))
	}
	return sh, nil
}
