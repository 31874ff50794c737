-- GET /v1/shipments/{id}: the statements the server sends for one request
-- (log_statement = all on the run database): models.Store.Shipment, the
-- shipment LEFT JOINed to its addresses, parcel and customs info. GORM names every column of the
-- seven relations; SELECT * returns the same ones. The server keeps the
-- written join order for that statement only (models.keepJoinOrder): the
-- set_config goes out in the same pipeline, one implicit transaction.
--
-- The random shipment comes from the helper table bench_ids (n → id), the
-- same ids the HTTP load picks from; that lookup is a statement the server
-- does not send, so it costs the ceiling a little.
\set n random(1, :nids)
SELECT id AS sid FROM bench_ids WHERE n = :n \gset
\startpipeline
SELECT set_config('join_collapse_limit', '1', true);
SELECT *
{{shipment_joined}}
WHERE shipments.id = :sid LIMIT 1;
\endpipeline
