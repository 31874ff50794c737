-- POST /v1/shipments with an Idempotency-Key, nested from and to addresses
-- and a parcel (the body the HTTP load sends), as models.Store.Idempotent
-- and CreateShipment send it, in four round trips:
--   1. BEGIN, the key's advisory lock and the lookup of a stored record
--      (clearing an expired one), in one pipeline;
--   2. the two addresses, the parcel and the shipment, each INSERT with
--      the id the server minted and RETURNING *, and the audit row, in
--      one pipeline;
--   3. the response stored for replay with the key (a body of the size
--      the server stores, passed in as :resp_body);
--   4. COMMIT.
-- The server mints the ids in Go; the script has the database mint them
-- first, a statement the server does not send (a lookup, left out of the
-- comparison of work).
\set k random(1, 9223372036854775806)
SELECT gen_random_uuid() AS from_id, gen_random_uuid() AS to_id, gen_random_uuid() AS parcel_id, gen_random_uuid() AS ship_id \gset
\startpipeline
BEGIN;
SELECT pg_try_advisory_xact_lock(:k);
WITH stale AS (
    DELETE FROM idempotency_keys WHERE api_key_id = :api_key_id AND key = :k::text AND (expires_at <= now() OR status_code IS NULL))
SELECT * FROM idempotency_keys WHERE api_key_id = :api_key_id AND key = :k::text AND expires_at > now() AND status_code IS NOT NULL;
\endpipeline
\startpipeline
INSERT INTO addresses (id, easypost_id, name, company, street1, street2, city, state, zip, country, phone, email,
                       is_residential, verifications, carrier_facility, federal_tax_id, state_tax_id)
VALUES (:from_id, NULL, 'Ada Lovelace', 'Analytical Engines', '1 Main St', NULL, 'Springfield', 'IL', '62701', 'US',
        '+12175550100', NULL, NULL, NULL, NULL, NULL, NULL) RETURNING *;
INSERT INTO addresses (id, easypost_id, name, company, street1, street2, city, state, zip, country, phone, email,
                       is_residential, verifications, carrier_facility, federal_tax_id, state_tax_id)
VALUES (:to_id, NULL, 'Charles Babbage', NULL, '2 Rue de Rivoli', NULL, 'Paris', NULL, '75001', 'FR',
        NULL, NULL, true, NULL, NULL, NULL, NULL) RETURNING *;
INSERT INTO parcels (id, easypost_id, length, width, height, weight, predefined_package, mass_unit, distance_unit)
VALUES (:parcel_id, NULL, 10, 8, 4, 16.5, NULL, 'oz', 'in') RETURNING *;
INSERT INTO shipments (id, easypost_id, mode, reference, status, tracking_code, carrier, service, from_address_id,
                       to_address_id, return_address_id, buyer_address_id, parcel_id, customs_info_id, selected_rate_id,
                       rates_data, base_cost, total_cost, currency, delivery_days, delivery_date, est_delivery_date,
                       tracking_details, weight, signed_by, batch_id, batch_status, extra_metadata)
VALUES (:ship_id, NULL, 'test', :k, 'unknown', NULL, 'USPS', 'Priority', :from_id,
        :to_id, NULL, NULL, :parcel_id, NULL, NULL,
        NULL, NULL, 12.10, 'USD', NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL) RETURNING *;
INSERT INTO user_activities (api_key_id, api_key_name, action, resource, resource_id, request_id, ip_address,
    method, endpoint, status_code, extra_metadata)
VALUES (:api_key_id, 'bench', 'shipment.create', 'shipment', :ship_id, 'bench-request', '127.0.0.1',
    'POST', '/v1/shipments', 201, NULL);
\endpipeline
INSERT INTO idempotency_keys (api_key_id, key, method, path, request_hash, status_code, response_headers, response_body)
VALUES (:api_key_id, :k, 'POST', '/v1/shipments', :req_hash, 201, :resp_headers, :resp_body) RETURNING *;
COMMIT;
