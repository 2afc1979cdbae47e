export * from "./extract.js";
export { Decoder, KVCache, decoderSettings, generate, type DecodeRow, type GenerateOptions, type Generation } from "./decoder.js";
export * from "./evaluate.js";
