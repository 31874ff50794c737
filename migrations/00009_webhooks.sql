-- 00009: carrier webhooks (POST /v1/webhooks/easypost).
--
-- webhook_deliveries keeps every signed delivery: when it came, the
-- carrier's event id (unique per provider: the same event delivered again
-- is refused), what it was, what Waybill did with it (outcome, detail, how
-- many tracking events it added) and the raw payload, so an operator can
-- list it and replay it (waybill webhooks list|replay).
--
-- shipment_events.carrier_event_key is the carrier's identity of a
-- tracking event (a hash of its datetime, status and message): the unique
-- index makes a tracking detail that arrives twice, in one delivery or in
-- several, one event. Events recorded through the API have none.

-- +goose Up
CREATE TABLE webhook_deliveries (
    id           uuid         NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    received_at  timestamptz  NOT NULL DEFAULT now(),
    provider     varchar(20)  NOT NULL DEFAULT 'easypost',
    event_id     varchar(100) NOT NULL,
    description  varchar(100) NOT NULL,
    outcome      varchar(30)  NOT NULL DEFAULT 'received' CHECK (outcome IN ('received', 'applied', 'no_change',
        'unknown_event', 'unknown_tracker', 'ambiguous_tracker')),
    detail       text         NOT NULL DEFAULT '',
    events_added integer      NOT NULL DEFAULT 0 CHECK (events_added >= 0),
    payload      jsonb        NOT NULL,
    replayed_at  timestamptz,
    replay_count integer      NOT NULL DEFAULT 0 CHECK (replay_count >= 0),
    CONSTRAINT webhook_deliveries_provider_event_id_key UNIQUE (provider, event_id)
);
CREATE INDEX webhook_deliveries_received_at_id_idx ON webhook_deliveries (received_at, id);

ALTER TABLE shipment_events ADD COLUMN carrier_event_key varchar(64);
CREATE UNIQUE INDEX shipment_events_carrier_event_key_idx ON shipment_events (shipment_id, carrier_event_key)
    WHERE carrier_event_key IS NOT NULL;

-- +goose Down
DROP INDEX shipment_events_carrier_event_key_idx;
ALTER TABLE shipment_events DROP COLUMN carrier_event_key;
DROP TABLE webhook_deliveries;
