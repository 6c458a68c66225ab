/*
 * netcl_mpi: the few MPI collectives netcl's sharded optimizer needs, over an opaque
 * communicator, so that Java (through jextract bindings) never sees Open MPI's handles, which are
 * macros over global symbols (MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_FLOAT and MPI_SUM
 * likewise) and have no stable value to bind to.
 *
 * An optional component: built as libnetcl_mpi when CMake finds MPI; libnetcl does not use it.
 *
 * Conventions (those of netcl.h):
 *  - Every fallible call returns a netcl_mpi_status and writes results through out-parameters.
 *    NETCL_MPI_SUCCESS is 0; the component's own codes live in -2100 .. -2199. After a failure,
 *    netcl_mpi_last_error() returns a message for the calling thread (an MPI failure's includes
 *    MPI's own error string). Nothing prints, logs or aborts, except netcl_mpi_abort.
 *  - MPI errors are returned, not fatal: the communicator uses MPI_ERRORS_RETURN. A peer that dies
 *    is handled by the launcher (mpirun ends the job), not by these calls.
 *  - MPI is initialized with MPI_THREAD_SERIALIZED: any thread may call, one at a time.
 *  - Counts and displacements are MPI's ints: a call moves fewer than 2^31 floats per rank.
 */
#ifndef NETCL_MPI_H
#define NETCL_MPI_H

#include <stdint.h>

#if defined(NETCL_MPI_BUILDING_LIBRARY)
#define NETCL_MPI_API __attribute__((visibility("default")))
#else
#define NETCL_MPI_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t netcl_mpi_status;

enum netcl_mpi_status_code {
    NETCL_MPI_SUCCESS = 0,
    NETCL_MPI_INVALID_ARGUMENT = -2100, /* a NULL handle or pointer, a bad count or rank */
    NETCL_MPI_FAILED = -2101,           /* an MPI call returned an error (message: MPI's) */
    NETCL_MPI_FINALIZED = -2102,        /* MPI was finalized in this process: it cannot restart */
    NETCL_MPI_OUT_OF_HOST_MEMORY = -2103
};

/* The version of this header's functions and types; the Java bindings check it at load. */
#define NETCL_MPI_ABI_VERSION 1

typedef struct netcl_mpi_comm netcl_mpi_comm;

NETCL_MPI_API int32_t netcl_mpi_abi_version(void);

/* The calling thread's message for its last failed call ("" if none). */
NETCL_MPI_API const char *netcl_mpi_last_error(void);

/* The name of a status code ("NETCL_MPI_FAILED"), or "NETCL_MPI_UNKNOWN_STATUS". */
NETCL_MPI_API const char *netcl_mpi_status_name(netcl_mpi_status status);

/*
 * A duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN; initializes MPI first if needed
 * (MPI_Init_thread, MPI_THREAD_SERIALIZED). Outside mpirun it is a world of one rank.
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_world_create(netcl_mpi_comm **out);

/* Frees the communicator (collective over its ranks); NULL is accepted. */
NETCL_MPI_API netcl_mpi_status netcl_mpi_comm_destroy(netcl_mpi_comm *comm);

/* Ends MPI in this process (collective over the world); after it no world can be created. */
NETCL_MPI_API netcl_mpi_status netcl_mpi_finalize(void);

NETCL_MPI_API netcl_mpi_status netcl_mpi_comm_rank(const netcl_mpi_comm *comm, int32_t *rank);
NETCL_MPI_API netcl_mpi_status netcl_mpi_comm_size(const netcl_mpi_comm *comm, int32_t *size);

/*
 * The element-wise sum over ranks of send (sum of counts[] floats), scattered: rank r receives
 * the counts[r] floats that follow counts[0] + ... + counts[r-1] into recv. counts is the same on
 * every rank. MPI chooses the order of the additions.
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_reduce_scatter_sum(const netcl_mpi_comm *comm, const float *send,
                                                            float *recv, const int32_t *counts);

/*
 * netcl_mpi_reduce_scatter_sum, then each received float divided by the number of ranks: the
 * mean (g0 + g1 + ...) / W of data-parallel gradients. A true division, as Java's float division
 * (never a multiplication by 1/W, which rounds differently for W not a power of two).
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_reduce_scatter_mean(const netcl_mpi_comm *comm, const float *send,
                                                             float *recv, const int32_t *counts);

/*
 * In place: rank r's counts[r] floats already sit at buffer + displs[r]; afterwards every rank
 * holds every rank's block there.
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_allgatherv(const netcl_mpi_comm *comm, float *buffer,
                                                    const int32_t *counts, const int32_t *displs);

/*
 * Rank r's count floats (send) land at recv + displs[r] on root; recv, counts and displs are read
 * only on root (NULL elsewhere is fine).
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_gatherv(const netcl_mpi_comm *comm, const float *send, int32_t count,
                                                 float *recv, const int32_t *counts, const int32_t *displs,
                                                 int32_t root);

/* In place: values[i] becomes the largest values[i] over ranks. */
NETCL_MPI_API netcl_mpi_status netcl_mpi_allreduce_max(const netcl_mpi_comm *comm, int64_t *values,
                                                       int32_t count);

NETCL_MPI_API netcl_mpi_status netcl_mpi_barrier(const netcl_mpi_comm *comm);

/*
 * Ends every rank of the job with exit status code (MPI_Abort): for a rank that cannot go on
 * while its peers wait in a collective. Returns only if MPI_Abort fails.
 */
NETCL_MPI_API netcl_mpi_status netcl_mpi_abort(const netcl_mpi_comm *comm, int32_t code);

#ifdef __cplusplus
}
#endif

#endif
