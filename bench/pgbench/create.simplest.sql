-- POST /v1/shipments, nested from and to addresses and a parcel, the
-- simplest SQL that stores the same rows and returns them: one transaction
-- of the four INSERTs, each returning its row. What it leaves out the
-- server must do as well (the Idempotency-Key's lock, lookup and stored
-- response; the audit row), so this ceiling is stricter than the server's
-- own (create.sql); the targets are judged against it.
\set k random(1, 9223372036854775806)
BEGIN;
INSERT INTO addresses (name, company, street1, city, state, zip, country, phone)
VALUES ('Ada Lovelace', 'Analytical Engines', '1 Main St', 'Springfield', 'IL', '62701', 'US', '+12175550100')
RETURNING * \gset from_
INSERT INTO addresses (name, street1, city, zip, country, is_residential)
VALUES ('Charles Babbage', '2 Rue de Rivoli', 'Paris', '75001', 'FR', true)
RETURNING * \gset to_
INSERT INTO parcels (length, width, height, weight, mass_unit, distance_unit)
VALUES (10, 8, 4, 16.5, 'oz', 'in')
RETURNING * \gset parcel_
INSERT INTO shipments (mode, reference, status, carrier, service, from_address_id, to_address_id, parcel_id, total_cost, currency)
VALUES ('test', :k, 'unknown', 'USPS', 'Priority', :from_id, :to_id, :parcel_id, 12.10, 'USD')
RETURNING *;
COMMIT;
