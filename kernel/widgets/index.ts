import type { InstallWidgets } from "./host.js";

/** Cell globals provided by kernel-side widgets. */
export const installWidgets: InstallWidgets = () => ({});
