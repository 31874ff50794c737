-- GET /v1/shipments/{id}: the statement the server sends for one request
-- (log_statement = all on the run database): models.Store.Shipment, the
-- shipment LEFT JOINed to its addresses, parcel and customs info. GORM
-- names every column of the seven relations; SELECT * returns the same
-- ones. A read by key goes without keepJoinOrder where statements are
-- prepared (models.findJoined): its generic plan is planned once.
--
-- The random shipment comes from the helper table bench_ids (n → id), the
-- same ids the HTTP load picks from; that lookup is a statement the server
-- does not send, so it costs the ceiling a little.
\set n random(1, :nids)
SELECT id AS sid FROM bench_ids WHERE n = :n \gset
SELECT *
{{shipment_joined}}
WHERE shipments.id = :sid;
