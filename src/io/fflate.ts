import { importNpm } from "../npm.ts";

export type UnzipSync = (data: Uint8Array) => Record<string, Uint8Array>;
export type ZipSync = (files: Record<string, Uint8Array>) => Uint8Array;

const fflate = await importNpm<{ unzipSync: UnzipSync; zipSync: ZipSync }>("npm:fflate@0.8.2");

export const { unzipSync, zipSync } = fflate;
