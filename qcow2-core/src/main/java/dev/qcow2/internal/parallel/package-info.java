/**
 * The thread-pool habits the parallel engines share. Not part of the API: the module does not
 * export this package, and its types may change in any release.
 */
package dev.qcow2.internal.parallel;
