"""The published ``intuit-signature`` test vectors (qbo-api-facts.md §9.2).

Shared by the emulator's signing tests and the webhook endpoint's verification tests,
so both sides are checked against the same bytes.
"""

from __future__ import annotations

#: (body, verifier token, expected signature): .NET SDK, Java SDK, python-quickbooks.
VECTORS = [
    (
        '{"eventNotifications":[{"realmId":"1269959970","dataChangeEvent":{"entities":[{"name":"Vendor","id":"40",'
        '"operation":"Update","lastUpdated":"2016-10-05T03:09:04.000Z"},{"name":"Customer","id":"43","operation":'
        '"Create","lastUpdated":"2016-10-05T03:07:04.000Z"}]}}]}',
        "00faeec4-08d0-4996-bb37-698ae19f0149",
        "6q+xGyMirJupwKTh2/WBl2NcdxzxqdIbk3sneKTxLWM=",
    ),
    (
        '{"eventNotifications":[{"realmId":"1185883450","dataChangeEvent":{"entities":[{"name":"Customer","id":"1",'
        '"operation":"Create","lastUpdated":"2015-10-05T14:42:19-0700"}]}}]}',
        "b5771f19b12ddb4bcdb9f08bdc50bc63878a",
        "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=",
    ),
    ('{"stuff":"5"}', "verify_me", "nfPLN16u3vMvv08ghDs+dOkLuirEVDy5wAeG/lmM2OA="),
]
