"""Speaking Intuit's protocols; knows QuickBooks and nothing of the CRM's contacts or tenants.

``client`` (HTTP to the Accounting API) with ``app_client`` (clients configured
from the app), ``faults`` (error bodies to error classes), ``throttle`` (per-realm
limits), ``oauth`` (grants, refresh, revoke) with ``auth`` (a connection's token
source and read meter), ``crypto`` (tokens at rest), ``query`` (query text and the
only literal escaper), ``notifications`` (webhook signature and formats), and
``ids``, ``jsonbody``, ``times`` (reading Intuit's ids, JSON and timestamps).
This layer sits right above the base modules (models, fieldmap, config, errors,
signals, state).
"""
