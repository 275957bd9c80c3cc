import { z } from "zod";

const columns = z.array(z.string().min(1, "expected a column name")).default([]);

/**
 * `mlops:training.dataset.features`: which columns are numbers, which are categories (strings) and
 * which to ignore, and how missing values are filled. The trainer builds one scikit-learn Pipeline
 * from it (impute, one-hot encode, then the estimator), so serving applies exactly what training did.
 */
export const featuresSchema = z
  .object({
    numeric: columns,
    categorical: columns,
    drop: columns,
    impute: z
      .object({
        numeric: z.enum(["median", "mean", "zero", "none"]).default("median"),
        categorical: z.enum(["most_frequent", "constant", "none"]).default("most_frequent"),
      })
      .strict()
      .default({ numeric: "median", categorical: "most_frequent" }),
  })
  .strict()
  .superRefine((features, ctx) => {
    if (features.numeric.length + features.categorical.length === 0)
      ctx.addIssue({ code: "custom", path: ["numeric"], message: "expected at least one numeric or categorical column" });
    const roleOf = new Map<string, string>();
    for (const role of ["numeric", "categorical", "drop"] as const)
      features[role].forEach((column, index) => {
        const earlier = roleOf.get(column);
        if (earlier !== undefined)
          ctx.addIssue({ code: "custom", path: [role, index], input: column, message: `expected each column in one list: ${JSON.stringify(column)} is already ${earlier}` });
        else roleOf.set(column, role);
      });
  });
export type FeaturesConfig = z.infer<typeof featuresSchema>;

/** Every column a features declaration names, for the checks against the target and the group column. */
export function declaredColumns(features: FeaturesConfig): string[] {
  return [...features.numeric, ...features.categorical, ...features.drop];
}
