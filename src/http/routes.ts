// The whole REST route table, in the order the OpenAPI document lists it. The server dispatches on
// this array and the document is built from it: adding a route here is the only way to add one.

import { ADMIN_ROUTES } from "./admin-routes.ts";
import { DASHBOARD_ROUTES } from "./dashboard.ts";
import { OPERATOR_ROUTES } from "./operator-routes.ts";
import type { Route } from "./route.ts";
import { SYSTEM_ROUTES } from "./system-routes.ts";
import { TASK_ROUTES } from "./task-routes.ts";

export const HTTP_ROUTES: readonly Route[] = [...TASK_ROUTES, ...OPERATOR_ROUTES, ...ADMIN_ROUTES, ...SYSTEM_ROUTES, ...DASHBOARD_ROUTES];
