#!/usr/bin/env python3
"""Fills the demo organization with a small hardware shop, through the HTTP API.

    python3 scripts/demo_data.py BASE_URL EMAIL PASSWORD

Everything goes through the same routes as any client's requests, so the audit log, the stock
ledger and the price history are written by the API's own code. It runs once: if the
organization has any product (active or deleted), it says so and changes nothing. Suppliers,
contacts and the second location are created with an Idempotency-Key, so a rerun after a crash
before the first product replays them instead of creating them twice.

Any answer other than 2xx stops the script: method, path, status and the problem document go to
stderr, and the exit code is 1. Python 3 standard library only.
"""

import json
import sys
import urllib.error
import urllib.request

CURRENCY = "USD"
BACK_ROOM = "Back room"
# A reservation that is still active for a few days after seeding (the API allows 7).
RESERVATION_SECONDS = 3 * 24 * 3600

SUPPLIERS = {
    "fasteners": {
        "name": "Northern Fasteners Co.",
        "email": "orders@northernfasteners.example",
        "phone": "+1 312 555 0142",
        "website": "https://northernfasteners.example",
        "address": "1200 W Fulton St, Chicago, IL 60607, USA",
        "notes": "Delivers Tuesdays and Fridays. Free delivery over 250.00.",
        "contacts": [
            {"name": "Maria Kowalski", "email": "maria@northernfasteners.example",
             "phone": "+1 312 555 0143", "role": "Account manager", "is_primary": True},
            {"name": "Dan Okafor", "email": "dispatch@northernfasteners.example",
             "phone": "+1 312 555 0150", "role": "Dispatch"},
        ],
    },
    "hinges": {
        "name": "Hinge & Handle Supply",
        "email": "sales@hingeandhandle.example",
        "phone": "+1 617 555 0178",
        "website": "https://hingeandhandle.example",
        "address": "45 Foundry Rd, Worcester, MA 01604, USA",
        "contacts": [
            {"name": "Priya Nair", "email": "priya@hingeandhandle.example",
             "phone": "+1 617 555 0179", "role": "Sales", "is_primary": True},
        ],
    },
    "paints": {
        "name": "Brightcoat Paints GmbH",
        "email": "export@brightcoat.example",
        "phone": "+49 30 5550 1234",
        "website": "https://brightcoat.example",
        "address": "Farbenstrasse 12, 10115 Berlin, Germany",
        "notes": "Paid by bank transfer in EUR.",
        "payment_details": {
            "account_holder_name": "Brightcoat Paints GmbH",
            "currency": "EUR",
            "type": "iban",
            "details": {"iban": "DE89370400440532013000"},
        },
        "contacts": [
            {"name": "Jonas Weber", "email": "jonas.weber@brightcoat.example",
             "phone": "+49 30 5550 1240", "role": "Export manager", "is_primary": True},
            {"name": "Lena Vogel", "email": "accounts@brightcoat.example",
             "role": "Accounts"},
        ],
    },
    "tools": {
        "name": "ToolPro Distribution",
        "email": "trade@toolpro.example",
        "phone": "+1 503 555 0110",
        "website": "https://toolpro.example",
        "address": "880 NE Industrial Way, Portland, OR 97232, USA",
        "contacts": [
            {"name": "Sam Rivera", "email": "sam@toolpro.example",
             "phone": "+1 503 555 0111", "role": "Trade counter", "is_primary": True},
        ],
    },
}

# sku, name, price, cost, unit, barcode, reorder point, best seller, supplier, opening stock in Main
PRODUCTS = [
    ("FAS-WS440", "Wood screws 4 x 40 mm, box of 200",      "8.95",  "4.10",  "box",  "5012345001012", 10, True,  "fasteners", 45),
    ("FAS-WS550", "Wood screws 5 x 50 mm, box of 100",      "7.50",  "3.40",  "box",  "5012345001029", 10, False, "fasteners", 30),
    ("FAS-DS335", "Drywall screws 3.5 x 35 mm, box of 500", "12.90", "6.20",  "box",  None,            8,  False, "fasteners", 24),
    ("FAS-NL65",  "Round wire nails 65 mm, 1 kg bag",       "5.20",  "2.30",  "bag",  None,            12, False, "fasteners", 40),
    ("FAS-WP8",   "Wall plugs 8 mm, pack of 50",            "3.95",  "1.40",  "pack", "5012345001036", 15, True,  "fasteners", 60),
    ("FAS-CB10",  "Coach bolts M10 x 100 mm",               "0.85",  "0.32",  "each", None,            50, False, "fasteners", 0),
    ("FAS-WA10",  "Washers M10, pack of 100",               "4.60",  "1.90",  "pack", None,            5,  False, "fasteners", 3),
    ("HIN-BT75",  "Brass butt hinges 75 mm, pair",          "6.40",  "2.80",  "pair", "5012345002019", 20, False, "hinges",    32),
    ("HIN-CC35",  "Concealed cabinet hinge 35 mm",          "3.20",  "1.25",  "each", None,            30, False, "hinges",    8),
    ("HIN-TH300", "Tee hinges 300 mm, black, pair",         "9.80",  "4.50",  "pair", None,            6,  False, "hinges",    14),
    ("HDL-LV01",  "Lever door handle set, satin nickel",    "24.50", "11.00", "set",  "5012345002026", 5,  False, "hinges",    9),
    ("LCK-PAD40", "Brass padlock 40 mm",                    "11.95", "5.10",  "each", "5012345002033", 8,  True,  "hinges",    26),
    ("LCK-CYL70", "Euro cylinder lock 35/35",               "18.90", "8.40",  "each", None,            6,  False, "hinges",    2),
    ("PNT-WH25",  "Interior wall paint, white, 2.5 L",      "21.50", "11.20", "tin",  "5012345003016", 12, True,  "paints",    40),
    ("PNT-WH10",  "Interior wall paint, white, 10 L",       "59.00", "31.00", "tin",  None,            4,  False, "paints",    0),
    ("PNT-GB750", "Gloss paint, black, 750 ml",             "12.75", "6.30",  "tin",  "5012345003023", 6,  False, "paints",    15),
    ("PNT-PR1",   "Wood primer, 1 L",                       "10.40", "5.10",  "tin",  None,            6,  False, "paints",    4),
    ("PNT-BR50",  "Paint brush 50 mm",                      "4.25",  "1.70",  "each", None,            10, False, "paints",    36),
    ("PNT-RL230", "Paint roller set 230 mm",                "9.99",  "4.20",  "set",  "5012345003030", 8,  False, "paints",    20),
    ("PNT-MT25",  "Masking tape 25 mm x 50 m",              "3.60",  "1.35",  "roll", "5012345003047", 20, True,  "paints",    90),
    ("TL-HM16",   "Claw hammer 16 oz",                      "16.90", "7.80",  "each", "5012345004013", 5,  False, "tools",     12),
    ("TL-SD6",    "Screwdriver set, 6 pieces",              "19.95", "9.10",  "set",  "5012345004020", 5,  False, "tools",     11),
    ("TL-TM5",    "Tape measure 5 m",                       "8.50",  "3.60",  "each", "5012345004037", 10, True,  "tools",     28),
    ("TL-DB10",   "HSS drill bit set, 10 pieces",           "14.90", "6.40",  "set",  None,            5,  False, "tools",     7),
    ("TL-SL600",  "Spirit level 600 mm",                    "15.40", "6.90",  "each", "5012345004044", 3,  False, "tools",     0),
]

# Stock that lives in the back room from the start: sku, quantity.
BACK_ROOM_RECEIPTS = [("FAS-CB10", 250), ("PNT-WH10", 10)]
TRANSFERS_TO_BACK_ROOM = [("PNT-WH25", 12, "Overflow to the back room")]
COUNTER_SALES = [("FAS-WS440", 6), ("FAS-WP8", 10), ("PNT-WH25", 3), ("PNT-MT25", 12),
                 ("LCK-PAD40", 2), ("TL-TM5", 4), ("TL-DB10", 3), ("PNT-WH25", 2)]
ADJUSTMENTS = [
    ("FAS-WS440", -2, "Stock count: two boxes damaged by damp"),
    ("PNT-BR50", 3, "Stock count: found a carton in the store room"),
]
RESERVATION = ("PNT-WH25", 6, "Order 1042, customer collects on Saturday")

# What is left below its reorder point afterwards: FAS-WA10, HIN-CC35, LCK-CYL70, PNT-PR1,
# TL-DB10, TL-SL600. Each order: supplier, notes, lines (sku, quantity, unit cost), then how far
# it got: "draft", "submitted", or the quantities received (sku, quantity) and where.
PURCHASE_ORDERS = [
    ("fasteners", "Monthly fasteners order",
     [("FAS-WS440", 40, "4.10"), ("FAS-WP8", 50, "1.40")],
     {"receive": [("FAS-WS440", 40), ("FAS-WP8", 50)], "location": BACK_ROOM}),
    ("hinges", "Cabinet hardware for the kitchen fitters",
     [("HIN-CC35", 60, "1.25"), ("LCK-CYL70", 10, "8.40"), ("HIN-BT75", 20, "2.80")],
     {"receive": [("HIN-CC35", 20), ("HIN-BT75", 20)]}),
    ("paints", "Primer and trade tins",
     [("PNT-PR1", 24, "5.10"), ("PNT-WH10", 6, "31.00"), ("PNT-GB750", 12, "6.30")],
     "submitted"),
    ("tools", "Levels and drill bits before the spring rush",
     [("TL-SL600", 6, "6.90"), ("TL-DB10", 10, "6.40"), ("TL-HM16", 4, "7.80")],
     "draft"),
    ("fasteners", "Top up washers",
     [("FAS-WA10", 20, "1.90")],
     "draft"),
]

# sku, new price, new cost: each adds an entry to the product's price history.
PRICE_CHANGES = [("PNT-WH25", "22.95", "12.10"), ("PNT-MT25", "3.45", "1.35")]

# title, description, completed
TASKS = [
    ("Count the back room shelves", "Quarterly count of fasteners and paint on shelves B1 to B4.", False),
    ("Chase Brightcoat about the primer", "The order is submitted; wood primer is below its reorder point.", False),
    ("Submit the tools order", "Spirit levels and drill bit sets are low; the draft is ready.", False),
    ("Set up the spring paint display", "Front window: white emulsion, rollers and masking tape.", True),
]


class Api:
    """JSON over HTTP with a bearer token; any non-2xx answer ends the script."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.token = None
        self.step_up = None

    def call(self, method, path, body=None, idempotency_key=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if self.step_up:
            # A step-up token is good for one request, once.
            request.add_header("X-Step-Up-Token", self.step_up)
            self.step_up = None
        if idempotency_key:
            request.add_header("Idempotency-Key", idempotency_key)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            problem = error.read().decode("utf-8", "replace")
            sys.exit(f"demo data: {method} {path} answered {error.code}\n{problem}")
        except urllib.error.URLError as error:
            sys.exit(f"demo data: {method} {path} failed: {error.reason}")
        return json.loads(raw) if raw else None

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body=None, idempotency_key=None):
        return self.call("POST", path, body, idempotency_key)

    def patch(self, path, body=None):
        return self.call("PATCH", path, body)


def log_in(api, email, password):
    session = api.post("/api/auth/login", {"email": email, "password": password})
    if session.get("mfa_required"):
        sys.exit("demo data: the demo user has MFA on; this script cannot sign in")
    api.token = session["access_token"]
    api.password = password


def has_products(api):
    """Any product, active or soft-deleted, means the demo data is there already."""
    return any(api.get(f"/api/products?active={active}&limit=1")["items"]
               for active in ("true", "false"))


def create_suppliers(api):
    """Suppliers with their contacts; returns supplier ids by key and the number of contacts."""
    ids, contacts = {}, 0
    for key, spec in SUPPLIERS.items():
        body = {k: v for k, v in spec.items() if k != "contacts"}
        # Bank details need a recent confirmation of the password, for this one request.
        if "payment_details" in body:
            proof = {"password": api.password, "action": "POST /api/suppliers"}
            api.step_up = api.post("/api/auth/step-up", proof)["step_up_token"]
        supplier = api.post("/api/suppliers", body, f"demo-data:supplier:{key}")
        ids[key] = supplier["id"]
        for n, contact in enumerate(spec["contacts"]):
            api.post(f"/api/suppliers/{supplier['id']}/contacts", contact,
                     f"demo-data:contact:{key}:{n}")
            contacts += 1
    return ids, contacts


def back_room(api):
    """The second location's id (next to the default `Main`), created if absent."""
    existing = api.get("/api/inventory/locations")["items"]
    found = next((loc["id"] for loc in existing if loc["name"] == BACK_ROOM), None)
    return found or api.post("/api/inventory/locations", {"name": BACK_ROOM},
                             "demo-data:location:back-room")["id"]


def create_products(api, supplier_ids):
    """The catalogue; returns product ids by SKU."""
    ids = {}
    for sku, name, price, cost, unit, barcode, reorder, best, supplier, _ in PRODUCTS:
        body = {"sku": sku, "name": name, "price": price, "currency": CURRENCY, "cost": cost,
                "unit": unit, "reorder_point": reorder, "best_seller": best,
                "supplier_id": supplier_ids[supplier]}
        if barcode:
            body["barcode"] = barcode
        ids[sku] = api.post("/api/products", body)["id"]
    return ids


def move_stock(api, products, back_room_id):
    """Opening stock, deliveries, a transfer, sales and count corrections; returns the count."""
    movements = []
    for sku, *_, opening in PRODUCTS:
        if opening:
            movements.append({"kind": "receive", "product_id": products[sku], "quantity": opening,
                              "reason": "Opening stock"})
    for sku, quantity in BACK_ROOM_RECEIPTS:
        movements.append({"kind": "receive", "product_id": products[sku], "quantity": quantity,
                          "reason": "Bulk delivery to the back room", "location_id": back_room_id})
    for sku, quantity, reason in TRANSFERS_TO_BACK_ROOM:
        movements.append({"kind": "transfer", "product_id": products[sku], "quantity": quantity,
                          "reason": reason, "to_location_id": back_room_id})
    for sku, quantity in COUNTER_SALES:
        movements.append({"kind": "sell", "product_id": products[sku], "quantity": quantity,
                          "reason": "Counter sale"})
    for sku, delta, reason in ADJUSTMENTS:
        movements.append({"kind": "adjust", "product_id": products[sku], "quantity": delta,
                          "reason": reason})
    for movement in movements:
        api.post("/api/inventory/movements", movement)
    return len(movements)


def reserve(api, products):
    sku, quantity, reference = RESERVATION
    api.post("/api/inventory/reservations", {
        "product_id": products[sku], "quantity": quantity,
        "expires_in_seconds": RESERVATION_SECONDS, "reference": reference})


def create_purchase_orders(api, supplier_ids, products, locations_by_name):
    for supplier, notes, lines, progress in PURCHASE_ORDERS:
        order = api.post("/api/purchase-orders", {
            "supplier_id": supplier_ids[supplier], "currency": CURRENCY, "notes": notes,
            "lines": [{"product_id": products[sku], "quantity": quantity, "unit_cost": cost}
                      for sku, quantity, cost in lines]})
        if progress == "draft":
            continue
        api.post(f"/api/purchase-orders/{order['id']}/submit")
        if progress == "submitted":
            continue
        line_ids = {line["product_id"]: line["id"] for line in order["lines"]}
        receipt = {"lines": [{"line_id": line_ids[products[sku]], "quantity": quantity}
                             for sku, quantity in progress["receive"]]}
        if "location" in progress:
            receipt["location_id"] = locations_by_name[progress["location"]]
        api.post(f"/api/purchase-orders/{order['id']}/receive", receipt)
    return len(PURCHASE_ORDERS)


def change_prices(api, products):
    for sku, price, cost in PRICE_CHANGES:
        api.patch(f"/api/products/{products[sku]}", {"price": price, "cost": cost})
    return len(PRICE_CHANGES)


def create_tasks(api):
    for title, description, completed in TASKS:
        task = api.post("/api/tasks", {"title": title, "description": description})
        if completed:
            api.patch(f"/api/tasks/{task['id']}/complete")
    return len(TASKS)


def main(argv):
    if len(argv) != 4:
        sys.exit(f"usage: {argv[0]} BASE_URL EMAIL PASSWORD")
    api = Api(argv[1])
    log_in(api, argv[2], argv[3])
    if has_products(api):
        print("Demo data: already there (the organization has products); nothing changed")
        return
    supplier_ids, contacts = create_suppliers(api)
    back_room_id = back_room(api)
    products = create_products(api, supplier_ids)
    movements = move_stock(api, products, back_room_id)
    reserve(api, products)
    orders = create_purchase_orders(api, supplier_ids, products, {BACK_ROOM: back_room_id})
    price_changes = change_prices(api, products)
    tasks = create_tasks(api)
    print(f"Demo data: {len(products)} products, {len(supplier_ids)} suppliers ({contacts} "
          f"contacts), 2 locations, {movements} stock movements, 1 reservation, {orders} "
          f"purchase orders, {price_changes} price changes, {tasks} tasks")


if __name__ == "__main__":
    main(sys.argv)
