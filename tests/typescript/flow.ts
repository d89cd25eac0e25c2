// A shop's whole day, written the way a frontend developer writes it: openapi-fetch's client typed
// by the paths generated from openapi.json (generated/api.d.ts), plain property reads on what the
// document says is always there, unions narrowed on their literal tags, errors read by their
// problem `code`. It compiles only while the document tells the truth, and `make test`
// (tests/tests/e2e/typed_client.rs) runs it against the API to check that the truth is what the
// API answers.
//
// Settings: STOCKROOM_API_URL (the base URL), STOCKROOM_EMAIL and STOCKROOM_PASSWORD (an owner
// whose organization is new and empty, with MFA off).

import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type Schemas = components["schemas"];
type Problem = Schemas["Problem"];

/** What openapi-fetch answers: the data, or the problem document of an error status (a 422's
 * is a `ValidationProblem`: a `Problem` whose `errors` is always there). */
type Answer<D> = { data?: D; error?: Problem; response: Response };

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) {
    throw new Error(`not so: ${what}`);
  }
}

/** The answer's data; an error status throws with its problem's code and detail. */
function expectData<D>(what: string, answer: Answer<D>): D {
  if (answer.data === undefined) {
    const code = answer.error?.code ?? "no_body";
    const detail = answer.error?.detail ?? "";
    throw new Error(`${what}: ${answer.response.status} ${code}: ${detail}`);
  }
  return answer.data;
}

const baseUrl = setting("STOCKROOM_API_URL");
const email = setting("STOCKROOM_EMAIL");
const password = setting("STOCKROOM_PASSWORD");

const api = createClient<paths>({ baseUrl });

/** The signed-in session; the access token lasts 15 minutes, the refresh token rotates. */
const session = { accessToken: "", refreshToken: "" };

/** Routes that take no access token. */
const publicRoutes = new Set(["/api/auth/login", "/api/auth/refresh"]);

const bearer: Middleware = {
  onRequest({ request, schemaPath }) {
    if (session.accessToken !== "" && !publicRoutes.has(schemaPath)) {
      request.headers.set("Authorization", `Bearer ${session.accessToken}`);
    }
    return request;
  },
};
api.use(bearer);

/** A new token pair for the refresh token (the old one is dead from then on). */
async function refresh(): Promise<void> {
  const body = { refresh_token: session.refreshToken };
  const pair = expectData("refresh", await api.POST("/api/auth/refresh", { body }));
  session.accessToken = pair.access_token;
  session.refreshToken = pair.refresh_token;
  check(pair.token_type === "Bearer", `a bearer token (${pair.token_type})`);
}

/** Sends a request; when the access token is no longer accepted, refreshes once and resends. */
async function authed<D>(send: () => Promise<Answer<D>>): Promise<D> {
  const first = await send();
  if (first.error === undefined || first.error.code !== "invalid_token") {
    return expectData(first.response.url, first);
  }
  await refresh();
  const again = await send();
  return expectData(again.response.url, again);
}

// Sign in. The answer is one of two shapes, told apart by `mfa_required`.
const login = expectData(
  "sign-in",
  await api.POST("/api/auth/login", { body: { email, password } }),
);
if (login.mfa_required === false) {
  session.accessToken = login.access_token;
  session.refreshToken = login.refresh_token;
  const deviceToken: string = login.device_token;
  check(deviceToken !== "", "a device token to keep for the next sign-in");
  check(login.expires_in === 900, "an access token for 15 minutes");
  check(login.user.email === email, "signed in as the one asked");
} else {
  const challenge: string = login.mfa_token;
  throw new Error(`this flow signs in with a password only (MFA challenge ${challenge})`);
}

// A tab left open past the access token's 15 minutes: the API refuses the token, the client
// refreshes the session and sends the request again.
session.accessToken = "an-access-token-from-yesterday";
const me = await authed(() => api.GET("/api/auth/me"));
check(me.user.email === email, "me is the signed-in user");
const role: Schemas["Role"] = me.user.role;
check(role === "owner", `the organization's owner (${role})`);
const defaultCurrency: Schemas["CurrencyCode"] = me.organization.default_currency;

// A supplier, and the products bought from it.
const supplier = await authed(() =>
  api.POST("/api/suppliers", {
    body: { name: "Northern Fasteners", email: "orders@fasteners.example" },
  }),
);
check(supplier.contacts.length === 0, "a new supplier has no contacts");
const supplierEmail: string | null = supplier.email;
check(supplierEmail === "orders@fasteners.example", "the supplier's address");

const catalogue = [
  { sku: "BOLT-M6", name: "Hex bolt M6x40", price: "0.35" },
  { sku: "BOLT-M8", name: "Hex bolt M8x60", price: "0.55" },
  { sku: "SCREW-4", name: "Wood screw 4x40", price: "0.12" },
];
const products: Schemas["ProductView"][] = [];
for (const item of catalogue) {
  const product = await authed(() =>
    api.POST("/api/products", {
      body: { ...item, currency: "EUR", supplier_id: supplier.id, reorder_point: 5 },
    }),
  );
  const currency: Schemas["CurrencyCode"] = product.currency;
  check(currency === "EUR", "the price's currency");
  const image: Schemas["ProductImage"] | null = product.image;
  check(image === null, "no image yet");
  const supplierId: string | null = product.supplier_id;
  check(supplierId === supplier.id, "bought from the supplier");
  products.push(product);
}
const [bolt] = products;
if (bolt === undefined) {
  throw new Error("no product was created");
}

// An error is a problem document with a stable code to switch on.
const duplicate = await api.POST("/api/products", {
  body: { sku: bolt.sku, name: "Another bolt", price: "1.00" },
});
check(duplicate.error !== undefined && duplicate.error.code === "sku_taken", "a SKU is taken once");

// A location, stock coming in, and a customer's cart holding some of it.
const backRoom = await authed(() =>
  api.POST("/api/inventory/locations", { body: { name: "Back room" } }),
);
const received = await authed(() =>
  api.POST("/api/inventory/movements", {
    body: {
      kind: "receive",
      product_id: bolt.id,
      quantity: 40,
      reason: "Opening stock",
      location_id: backRoom.id,
    },
  }),
);
const kind: Schemas["Kind"] = received.kind;
check(kind === "receive" && received.available === 40, "40 bolts on the shelf");

const reservation = await authed(() =>
  api.POST("/api/inventory/reservations", {
    body: {
      product_id: bolt.id,
      quantity: 3,
      expires_in_seconds: 3600,
      location_id: backRoom.id,
      reference: "cart-1001",
    },
  }),
);
const reservationStatus: Schemas["ReservationStatus"] = reservation.status;
check(reservationStatus === "active", "the cart holds 3 bolts");

// A purchase order for more.
const order = await authed(() =>
  api.POST("/api/purchase-orders", {
    body: {
      supplier_id: supplier.id,
      currency: "EUR",
      notes: "Before the spring rush",
      lines: [{ product_id: bolt.id, quantity: 100, unit_cost: "0.20" }],
    },
  }),
);
const orderStatus: Schemas["PoStatus"] = order.status;
const orderCurrency: Schemas["CurrencyCode"] = order.currency;
check(orderStatus === "draft" && orderCurrency === "EUR", "a draft order in euros");
check(order.supplier_name === supplier.name && order.lines.length === 1, "the order's line");

// The catalogue page by page: `next_cursor` is null on the last page.
async function productPage(cursor: string | null) {
  const query = cursor === null ? { limit: 2 } : { limit: 2, cursor };
  return authed(() => api.GET("/api/products", { params: { query } }));
}
const listed: string[] = [];
let cursor: string | null = null;
do {
  const page = await productPage(cursor);
  for (const product of page.items) {
    listed.push(product.sku);
  }
  cursor = page.next_cursor;
} while (cursor !== null);
check(listed.length === catalogue.length, `every product once (${listed.join(", ")})`);

// Search by name or SKU.
const bolts = await authed(() => api.GET("/api/products", { params: { query: { q: "bolt" } } }));
check(bolts.items.length === 2, "two bolts found");

// Sorted by what can still be sold: on hand less the reservations.
const byAvailable = await authed(() =>
  api.GET("/api/products", { params: { query: { sort: "available" } } }),
);
let previous = Number.NEGATIVE_INFINITY;
for (const product of byAvailable.items) {
  const onHand: number = product.on_hand;
  const reserved: number = product.reserved;
  const available: number = product.available;
  check(available === onHand - reserved, `${product.sku}: available is on hand less reserved`);
  check(available >= previous, "sorted by available, fewest first");
  previous = available;
  if (product.id === bolt.id) {
    check(onHand === 40 && reserved === 3 && available === 37, "the bolts' stock figures");
  }
}

// The dashboard, with who did what.
const summary = await authed(() => api.GET("/api/dashboard/summary"));
check(summary.products === catalogue.length, "the dashboard counts the products");
check(summary.active_reservations === 1, "and the open cart");
const actors = new Set<string>();
for (const entry of summary.recent_activity) {
  const actor: string | null = entry.actor_name;
  if (actor !== null) {
    actors.add(actor);
  }
}
check(actors.has(me.user.name), `the owner is named in the recent activity (${[...actors]})`);

// The products as CSV, for a spreadsheet.
const csv = await authed(() =>
  api.GET("/api/dashboard/export/{file}", {
    params: { path: { file: "products.csv" } },
    parseAs: "text",
  }),
);
check(csv.split("\n")[0]?.includes("sku") === true, "a CSV header names the SKU column");
check(csv.includes(bolt.sku), "the CSV lists the bolts");

// An API key for the till: creating one needs the password again (step-up), for that one request.
const stepUp = await authed(() =>
  api.POST("/api/auth/step-up", { body: { password, action: "POST /api/api-keys" } }),
);
check(stepUp.method === "password", "confirmed with the password (MFA is off)");
check(stepUp.action === "POST /api/api-keys", "for the key's creation only");
const key = await authed(() =>
  api.POST("/api/api-keys", {
    params: { header: { "X-Step-Up-Token": stepUp.step_up_token } },
    body: { name: "Till", scopes: ["products:read", "inventory:write"], expires_in_days: 365 },
  }),
);
check(key.key.startsWith(key.prefix), "the secret begins with the prefix the list shows");
const expiresAt: string | null = key.expires_at;
check(expiresAt !== null, "the key expires");

// The till lists the products with its key.
const till = createClient<paths>({ baseUrl, headers: { "X-API-Key": key.key } });
const tillView = expectData("products with the key", await till.GET("/api/products"));
check(tillView.items.length === catalogue.length, "the key reads the products");

// A colleague invited to run the stock.
const invited = await authed(() =>
  api.POST("/api/users", {
    body: {
      email: "bob@example.com",
      name: "Bob Stock",
      role: "user",
      permissions: { products: "read", inventory: "write" },
    },
  }),
);
const memberStatus: Schemas["MemberStatus"] = invited.status;
check(memberStatus === "invited" && invited.invitation_pending, "Bob is invited");
check(invited.invitation_sent, "the invitation is on its way");

console.log(
  `typed client flow: ${catalogue.length} products, ${defaultCurrency} by default, ` +
    `order ${order.id} (${orderStatus}), key ${key.prefix}, ${actors.size} actor(s) on the dashboard`,
);
