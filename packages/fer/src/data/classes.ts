// FER2013 label set. The order is the one the data set's documentation and the reference report use
// (label = index); it is NOT alphabetical, so never derive labels by sorting folder names.
export const CLASSES = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;
export type ClassName = (typeof CLASSES)[number];
export const NUM_CLASSES = CLASSES.length;

/** Every FER2013 face is a 48x48 single-channel image. */
export const IMAGE_SIZE = 48;
export const IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** Label index of a class folder name (case-insensitive), or -1 when it is not a FER2013 class. */
export function classIndex(name: string): number {
  return (CLASSES as readonly string[]).indexOf(name.toLowerCase());
}

/** Counts per class label; labels outside [0, numClasses) are an error (they would mean a corrupt cache). */
export function classCounts(labels: ArrayLike<number>, numClasses = NUM_CLASSES): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!(l >= 0 && l < numClasses) || !Number.isInteger(l)) {
      throw new Error(`label ${l} at index ${i} is outside [0, ${numClasses})`);
    }
    counts[l]!++;
  }
  return counts;
}
