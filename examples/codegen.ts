import type { CodegenConfig } from '@graphql-codegen/cli';

// TypeScript types for the operations in operations/, checked against the gateway's
// committed schema. Documents are validated against the schema (a misspelt field, an
// unknown type or a wrong argument fails the run), and so is the generated code by
// `tsc --noEmit` in `npm run check`.
const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['operations/*.graphql'],
  // A glob that matches nothing is an error, not an empty output.
  ignoreNoDocuments: false,
  // Any error fails the run, with a non-zero exit.
  noSilentErrors: true,
  overwrite: true,
  config: {
    // Validation is on by default; stated so nobody turns it off by accident.
    skipDocumentsValidation: false,
    // Every custom scalar must be mapped below; an unknown one fails the run.
    strictScalars: true,
    scalars: {
      // RFC 3339 instants, e.g. `2030-01-07T08:00:00Z`.
      DateTime: 'string',
      // Exact decimals travel as strings (`"500.00"`): never parse money into a float.
      Decimal: 'string',
      JSON: 'unknown',
      // `YYYY-MM-DD`.
      NaiveDate: 'string',
      // `HH:MM:SS`.
      NaiveTime: 'string',
      Upload: 'File',
    },
    enumsAsTypes: true,
    useTypeImports: true,
  },
  generates: {
    'generated/graphql.ts': {
      plugins: ['typescript', 'typescript-operations'],
    },
  },
};

export default config;
