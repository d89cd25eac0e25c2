// Mistakes the generated types must refuse. Each line under `@ts-expect-error` has to be a
// compile error: if the document ever lets one through (a pattern where an enum belongs, a
// member typed too loosely), tsc fails on the directive it no longer needs. Never run.

import type { Client } from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type Schemas = components["schemas"];

export async function mistakes(api: Client<paths>): Promise<void> {
  // @ts-expect-error: products sort by name, sku, price, available, created_at or updated_at.
  await api.GET("/api/products", { params: { query: { sort: "stock_level" } } });

  // @ts-expect-error: the exports are CSV and XLSX files of products, stock and movements.
  await api.GET("/api/dashboard/export/{file}", { params: { path: { file: "products.pdf" } } });

  // @ts-expect-error: a currency is an ISO 4217 code.
  await api.POST("/api/products", { body: { sku: "X-1", name: "X", price: "1", currency: "XYZ" } });

  // @ts-expect-error: a movement is received, sold, adjusted or transferred.
  await api.POST("/api/inventory/movements", { body: { kind: "steal", product_id: "", quantity: 1, reason: "x" } });

  // @ts-expect-error: the product's id is a path parameter the request must give.
  await api.GET("/api/products/{id}");
}

export function answers(
  login: Schemas["LoginResponse"],
  order: Schemas["PurchaseOrder"],
  product: Schemas["ProductView"],
  stepUp: Schemas["StepUpToken"],
  reservation: Schemas["Reservation"],
  me: Schemas["Me"],
): unknown[] {
  // @ts-expect-error: the last page's cursor is null, never missing.
  const missingCursor: Schemas["Page_ProductView"]["next_cursor"] = undefined;
  return [
    missingCursor,
    // @ts-expect-error: an MFA challenge has no access token; narrow on `mfa_required` first.
    login.access_token,
    // @ts-expect-error: a purchase order is never "approved" (its payment is).
    order.status === "approved",
    // @ts-expect-error: a product's currency is an ISO 4217 code.
    product.currency === "XYZ",
    // @ts-expect-error: a step-up is confirmed with the password or an authenticator code.
    stepUp.method === "sms",
    // @ts-expect-error: a reservation is active, confirmed, cancelled or expired.
    reservation.status === "pending",
    // @ts-expect-error: a role is owner, admin or user.
    me.user.role === "superuser",
  ];
}
