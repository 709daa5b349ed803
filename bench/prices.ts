/**
 * Azure public list prices used for the cost estimate (USD, pay-as-you-go, East US, LRS,
 * before free grants). Looked up 2026-11-22; every figure names where it comes from and
 * whether it still has to be checked against https://azure.microsoft.com/pricing.
 */

export interface Price {
  usd: number;
  unit: string;
  source: string;
  checked: boolean;
}

export const PRICES_LOOKED_UP = '2026-11-22';

export const PRICES = {
  flexGbSecond: {
    usd: 0.000026,
    unit: 'GB-s of on-demand execution time',
    source:
      'Azure Functions pricing page, Flex Consumption on demand, as quoted by modal.com/blog/azure-function-pricing-guide (2025-05-22); billing model: learn.microsoft.com functions-consumption-costs (memory of instances while executing)',
    checked: true,
  },
  flexExecutionsPerMillion: {
    usd: 0.4,
    unit: 'million on-demand executions',
    source: 'same as above',
    checked: true,
  },
  tableTransactionsPer10k: {
    usd: 0.00036,
    unit: '10,000 Table transactions (Standard LRS)',
    source: 'long-standing Azure Table storage list price; not found in the search corpus: MUST BE CHECKED',
    checked: false,
  },
  queueOperationsPer10k: {
    usd: 0.004,
    unit: '10,000 Queue operations (GPv2 LRS, class 1 and class 2 alike)',
    source: 'assumed from the Azure Queue storage page; not found in the search corpus: MUST BE CHECKED',
    checked: false,
  },
  blobWritesPer10k: {
    usd: 0.055,
    unit: '10,000 Blob write operations (Hot, LRS)',
    source:
      'Azure Blob pricing page, Hot LRS East US, as compiled in api-evangelist/microsoft-azure-blob-storage plans (2026-05-04, "~$0.055")',
    checked: true,
  },
  blobReadsPer10k: {
    usd: 0.0044,
    unit: '10,000 Blob read operations (Hot, LRS)',
    source: 'same as above ("~$0.0044")',
    checked: true,
  },
  blobGbMonth: {
    usd: 0.018,
    unit: 'GB-month of Hot LRS blob capacity (first 50 TB)',
    source: 'same as above ("~$0.018")',
    checked: true,
  },
} satisfies Record<string, Price>;

/** Flex Consumption instance memory the estimate assumes (the plan's default instance size). */
export const INSTANCE_MEMORY_GB = 2;
