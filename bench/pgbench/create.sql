-- POST /v1/shipments with an Idempotency-Key, nested from and to addresses
-- and a parcel (the body the HTTP load sends), as models.Store.Idempotent
-- runs it: one transaction takes the key's advisory lock, clears an expired
-- record and looks for a stored one, runs models.Store.CreateShipment (two
-- addresses, the parcel, the shipment, each with RETURNING *, and the
-- shipment read back LEFT JOINed to its addresses, parcel and customs
-- info, keeping the written join order for the rest of the transaction),
-- then stores the response for replay (a body of the size the
-- server stores, passed in as :resp_body) with the key.
\set k random(1, 9223372036854775806)
BEGIN;
SELECT pg_try_advisory_xact_lock(:k);
WITH stale AS (
    DELETE FROM idempotency_keys WHERE api_key_id = :api_key_id AND key = :k::text AND (expires_at <= now() OR status_code IS NULL))
SELECT * FROM idempotency_keys WHERE api_key_id = :api_key_id AND key = :k::text AND expires_at > now() AND status_code IS NOT NULL;
INSERT INTO addresses (easypost_id, name, company, street1, street2, city, state, zip, country, phone, email,
                       is_residential, verifications, carrier_facility, federal_tax_id, state_tax_id)
VALUES (NULL, 'Ada Lovelace', 'Analytical Engines', '1 Main St', NULL, 'Springfield', 'IL', '62701', 'US',
        '+12175550100', NULL, NULL, NULL, NULL, NULL, NULL) RETURNING * \gset from_
INSERT INTO addresses (easypost_id, name, company, street1, street2, city, state, zip, country, phone, email,
                       is_residential, verifications, carrier_facility, federal_tax_id, state_tax_id)
VALUES (NULL, 'Charles Babbage', NULL, '2 Rue de Rivoli', NULL, 'Paris', NULL, '75001', 'FR',
        NULL, NULL, true, NULL, NULL, NULL, NULL) RETURNING * \gset to_
INSERT INTO parcels (easypost_id, length, width, height, weight, predefined_package, mass_unit, distance_unit)
VALUES (NULL, 10, 8, 4, 16.5, NULL, 'oz', 'in') RETURNING * \gset parcel_
INSERT INTO shipments (easypost_id, mode, reference, status, tracking_code, carrier, service, from_address_id,
                       to_address_id, return_address_id, buyer_address_id, parcel_id, customs_info_id, selected_rate_id,
                       rates_data, base_cost, total_cost, currency, delivery_days, delivery_date, est_delivery_date,
                       tracking_details, weight, signed_by, batch_id, batch_status, extra_metadata)
VALUES (NULL, 'test', :k, 'unknown', NULL, 'USPS', 'Priority', :from_id,
        :to_id, NULL, NULL, :parcel_id, NULL, NULL,
        NULL, NULL, 12.10, 'USD', NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL) RETURNING * \gset ship_
SELECT set_config('join_collapse_limit', '1', true);
SELECT *
{{shipment_joined}}
WHERE shipments.id = :ship_id;
INSERT INTO idempotency_keys (api_key_id, key, method, path, request_hash, status_code, response_headers, response_body)
VALUES (:api_key_id, :k, 'POST', '/v1/shipments', :req_hash, 201, :resp_headers, :resp_body) RETURNING *;
COMMIT;
