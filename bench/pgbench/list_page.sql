-- GET /v1/shipments?status=:status&page_size=20&before_id=… (or after_id=…):
-- the keyset page, 21 rows (the page and one to tell whether there are
-- more) after the cursor, whose created_at is read in the same statement,
-- each shipment LEFT JOINed to its addresses, parcel and customs info, as
-- models.Store.Shipments sends it, after the set_config that keeps the
-- written join order for it (models.keepJoinOrder) in the same pipeline.
--
-- The cursor is a random shipment with that status (helper table
-- bench_list_ids), before_id or after_id with even odds, as in the HTTP
-- load; that lookup costs the ceiling a little.
--
-- A page read with cursor= (next_cursor, previous_cursor) is the same
-- statement with the cursor's (created_at, id) bound in place of the
-- subquery; the load pages by id, as EasyPost clients do.
\set n random(1, :nlist)
\set older random(0, 1)
SELECT id AS cursor FROM bench_list_ids WHERE n = :n \gset
\if :older
\startpipeline
SELECT set_config('join_collapse_limit', '1', true);
SELECT *
{{shipment_joined}}
WHERE shipments.status IN (:status) AND (shipments.created_at, shipments.id) < ((SELECT c.created_at FROM shipments AS c WHERE c.id = :cursor), :cursor)
ORDER BY shipments.created_at DESC, shipments.id DESC LIMIT 21;
\endpipeline
\else
\startpipeline
SELECT set_config('join_collapse_limit', '1', true);
SELECT *
{{shipment_joined}}
WHERE shipments.status IN (:status) AND (shipments.created_at, shipments.id) > ((SELECT c.created_at FROM shipments AS c WHERE c.id = :cursor), :cursor)
ORDER BY shipments.created_at ASC, shipments.id ASC LIMIT 21;
\endpipeline
\endif
