-- GET /v1/analytics/dashboard?start_date=:start_date&end_date=:end_date:
-- the statement of models.Store.Dashboard. The harness puts it in for the
-- placeholder below from models.DashboardStatement(), with $1 and $2
-- written :start_date and :end_date, so it is always the server's. It
-- reads the days the server has materialized into the per-day tables (the
-- seed materializes them) and computes the others from the shipments.
{{models.DashboardStatement}};
