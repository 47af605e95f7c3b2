/**
 * Public list prices the report sets beside shared bandwidth: what a GB costs leaving a cloud
 * object store for the internet, and what its read requests cost. Figures as the providers publish
 * them for 2024-2025 (first pricing tier, US regions); they are quoted, not measured, and prices
 * change: the report names each page so a reader can check the figure of the day.
 */

export interface ObjectStorePrice {
  name: string
  /** Data out to the internet, US dollars per GB (first tier). */
  egressPerGB: number
  /** Read (GET, class B) requests, US dollars per 1,000. */
  readsPer1000: number
  source: string
}

export const OBJECT_STORE_PRICES: readonly ObjectStorePrice[] = [
  {
    name: 'AWS S3 Standard',
    egressPerGB: 0.09,
    readsPer1000: 0.0004,
    source: 'https://aws.amazon.com/s3/pricing/ (data transfer out, first 10 TB/month; GET requests)',
  },
  {
    name: 'Google Cloud Storage Standard',
    egressPerGB: 0.12,
    readsPer1000: 0.0004,
    source: 'https://cloud.google.com/storage/pricing (internet egress, first TB; class B operations)',
  },
  {
    name: 'Azure Blob Storage Hot',
    egressPerGB: 0.087,
    readsPer1000: 0.00044,
    source:
      'https://azure.microsoft.com/pricing/details/bandwidth/ and .../storage/blobs/ (first 10 TB; read operations)',
  },
  {
    name: 'Cloudflare R2 Standard',
    egressPerGB: 0,
    readsPer1000: 0.00036,
    source: 'https://developers.cloudflare.com/r2/pricing/ (no egress fee; class B operations)',
  },
]

/** Dollars per GB read through requests of `requestBytes` each. */
export function dollarsPerGB(price: ObjectStorePrice, requestBytes: number): number {
  return price.egressPerGB + (1e9 / requestBytes / 1000) * price.readsPer1000
}
