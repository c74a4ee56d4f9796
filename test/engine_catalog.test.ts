/**
 * Every op of the catalog (and the public functions composed from it) against float64
 * references, with finite-difference gradient checks, on the CPU reference backend.
 * Other backends run the same table with `runCatalogSuite("<backend>")`.
 */
import { runCatalogSuite } from "./helpers/catalog.ts";

runCatalogSuite("cpu");
