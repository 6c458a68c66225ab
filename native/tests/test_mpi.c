/*
 * libnetcl_mpi on two ranks (ctest runs it under mpirun -np 2): every collective against sums,
 * means and layouts worked out by hand (small integers, so the float sums are exact in any
 * order), with uneven blocks and an empty one; every bad argument refused with NETCL_MPI_INVALID_ARGUMENT, a
 * message naming it, and the buffers untouched (the checks come before any communication, so a
 * refused call never leaves the other rank waiting); the status names; and finalize, after which
 * no world can be created.
 */
#include <string.h>

#include "netcl_mpi.h"
#include "test_util.h"

#define RANKS 2

static void expect_invalid(netcl_mpi_status status, const char *message_part, const char *call)
{
    CHECK(status == NETCL_MPI_INVALID_ARGUMENT, "%s: status %s", call, netcl_mpi_status_name(status));
    CHECK(strstr(netcl_mpi_last_error(), message_part) != NULL, "%s: message '%s' lacks '%s'", call,
          netcl_mpi_last_error(), message_part);
}

#define EXPECT_OK(call) CHECK((call) == NETCL_MPI_SUCCESS, "%s: %s", #call, netcl_mpi_last_error())

/* Rank r's value at element k of a send buffer: (r + 1) * (k + 1), exact in float. */
static float value(int rank, int k)
{
    return (float)((rank + 1) * (k + 1));
}

static void test_reduce_scatter(const netcl_mpi_comm *comm, int rank)
{
    const int32_t counts[RANKS] = {3, 5};
    float send[8], recv[8];
    for (int k = 0; k < 8; k++) {
        send[k] = value(rank, k);
    }
    EXPECT_OK(netcl_mpi_reduce_scatter_sum(comm, send, recv, counts));
    /* Element k of the sum is (1 + 2) * (k + 1); rank 1's block starts at element 3. */
    int offset = rank == 0 ? 0 : counts[0];
    for (int k = 0; k < counts[rank]; k++) {
        CHECK(recv[k] == 3.0f * (float)(offset + k + 1), "rank %d recv[%d] = %g", rank, k, recv[k]);
    }
    /* The mean: each sum divided by the 2 ranks, 1.5 * (k + 1), exact. */
    EXPECT_OK(netcl_mpi_reduce_scatter_mean(comm, send, recv, counts));
    for (int k = 0; k < counts[rank]; k++) {
        CHECK(recv[k] == 1.5f * (float)(offset + k + 1), "rank %d mean[%d] = %g", rank, k, recv[k]);
    }
    /* An empty block: rank 0 receives nothing and passes no buffer. */
    const int32_t lopsided[RANKS] = {0, 8};
    EXPECT_OK(netcl_mpi_reduce_scatter_sum(comm, send, rank == 0 ? NULL : recv, lopsided));
    for (int k = 0; rank == 1 && k < 8; k++) {
        CHECK(recv[k] == 3.0f * (float)(k + 1), "recv[%d] = %g", k, recv[k]);
    }
}

static void test_gathers(const netcl_mpi_comm *comm, int rank)
{
    /* Blocks of 3 and 5 floats, rank 1's first, with a gap of 2 between them. */
    const int32_t counts[RANKS] = {3, 5};
    const int32_t displs[RANKS] = {7, 0};
    float buffer[10];
    for (int k = 0; k < 10; k++) {
        buffer[k] = -1.0f;
    }
    for (int k = 0; k < counts[rank]; k++) {
        buffer[displs[rank] + k] = value(rank, k);
    }
    EXPECT_OK(netcl_mpi_allgatherv(comm, buffer, counts, displs));
    for (int r = 0; r < RANKS; r++) {
        for (int k = 0; k < counts[r]; k++) {
            CHECK(buffer[displs[r] + k] == value(r, k), "rank %d: block %d [%d] = %g", rank, r, k,
                  buffer[displs[r] + k]);
        }
    }
    CHECK(buffer[5] == -1.0f && buffer[6] == -1.0f, "the gap was written: %g %g", buffer[5], buffer[6]);

    /* To root 1 only; rank 0's recv is not touched (and may be NULL). */
    float send[5], recv[10];
    for (int k = 0; k < 5; k++) {
        send[k] = value(rank, k);
    }
    for (int k = 0; k < 10; k++) {
        recv[k] = -1.0f;
    }
    EXPECT_OK(netcl_mpi_gatherv(comm, send, counts[rank], rank == 1 ? recv : NULL, counts, displs, 1));
    for (int r = 0; rank == 1 && r < RANKS; r++) {
        for (int k = 0; k < counts[r]; k++) {
            CHECK(recv[displs[r] + k] == value(r, k), "root: block %d [%d] = %g", r, k, recv[displs[r] + k]);
        }
    }
    /* An empty block from rank 0, with no send buffer. */
    const int32_t lopsided[RANKS] = {0, 5};
    const int32_t packed[RANKS] = {0, 0};
    EXPECT_OK(netcl_mpi_gatherv(comm, rank == 0 ? NULL : send, lopsided[rank], recv, lopsided, packed, 0));
    for (int k = 0; rank == 0 && k < lopsided[1]; k++) {
        CHECK(recv[k] == value(1, k), "root 0: [%d] = %g", k, recv[k]);
    }
}

static void test_allreduce_max(const netcl_mpi_comm *comm, int rank)
{
    int64_t values[3] = {rank == 0 ? -5 : -7, rank == 0 ? INT64_MAX : 0, rank == 0 ? 1 : INT64_MIN};
    EXPECT_OK(netcl_mpi_allreduce_max(comm, values, 3));
    CHECK(values[0] == -5 && values[1] == INT64_MAX && values[2] == 1, "max: %lld %lld %lld", (long long)values[0],
          (long long)values[1], (long long)values[2]);
    EXPECT_OK(netcl_mpi_barrier(comm));
}

/* Refused on the calling rank alone, before any communication; nothing written. */
static void test_bad_arguments(const netcl_mpi_comm *comm, int rank)
{
    float buffer[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float before[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t values[2] = {4, 5};
    int32_t out = 42;
    const int32_t counts[RANKS] = {3, 5};
    const int32_t negative[RANKS] = {3, -1};
    const int32_t displs[RANKS] = {0, 3};
    const int32_t negative_displs[RANKS] = {0, -3};
    const int32_t huge[RANKS] = {INT32_MAX, 1};

    expect_invalid(netcl_mpi_world_create(NULL), "out is NULL", "world_create(NULL)");
    expect_invalid(netcl_mpi_comm_rank(NULL, &out), "comm or rank is NULL", "comm_rank(NULL comm)");
    expect_invalid(netcl_mpi_comm_rank(comm, NULL), "comm or rank is NULL", "comm_rank(NULL rank)");
    expect_invalid(netcl_mpi_comm_size(NULL, &out), "comm or size is NULL", "comm_size(NULL comm)");
    CHECK(out == 42, "out written: %d", out);

    expect_invalid(netcl_mpi_reduce_scatter_sum(NULL, buffer, buffer, counts), "comm, send or counts is NULL",
                   "reduce_scatter(NULL comm)");
    expect_invalid(netcl_mpi_reduce_scatter_sum(comm, NULL, buffer, counts), "comm, send or counts is NULL",
                   "reduce_scatter(NULL send)");
    expect_invalid(netcl_mpi_reduce_scatter_sum(comm, buffer, buffer, NULL), "comm, send or counts is NULL",
                   "reduce_scatter(NULL counts)");
    expect_invalid(netcl_mpi_reduce_scatter_sum(comm, buffer, buffer, negative), "counts[1] is negative (-1)",
                   "reduce_scatter(negative count)");
    expect_invalid(netcl_mpi_reduce_scatter_sum(comm, buffer, buffer, huge), "more than MPI's int counts allow",
                   "reduce_scatter(counts over INT32_MAX)");
    expect_invalid(netcl_mpi_reduce_scatter_sum(comm, buffer, NULL, counts), "recv is NULL but this rank receives",
                   "reduce_scatter(NULL recv)");
    expect_invalid(netcl_mpi_reduce_scatter_mean(comm, buffer, buffer, negative), "counts[1] is negative (-1)",
                   "reduce_scatter_mean(negative count)");
    expect_invalid(netcl_mpi_reduce_scatter_mean(NULL, buffer, buffer, counts), "comm, send or counts is NULL",
                   "reduce_scatter_mean(NULL comm)");

    expect_invalid(netcl_mpi_allgatherv(NULL, buffer, counts, displs), "comm, buffer, counts or displs is NULL",
                   "allgatherv(NULL comm)");
    expect_invalid(netcl_mpi_allgatherv(comm, NULL, counts, displs), "comm, buffer, counts or displs is NULL",
                   "allgatherv(NULL buffer)");
    expect_invalid(netcl_mpi_allgatherv(comm, buffer, counts, NULL), "comm, buffer, counts or displs is NULL",
                   "allgatherv(NULL displs)");
    expect_invalid(netcl_mpi_allgatherv(comm, buffer, counts, negative_displs), "displs[1] is negative (-3)",
                   "allgatherv(negative displacement)");

    expect_invalid(netcl_mpi_gatherv(NULL, buffer, 3, buffer, counts, displs, 0), "comm is NULL",
                   "gatherv(NULL comm)");
    expect_invalid(netcl_mpi_gatherv(comm, NULL, 3, buffer, counts, displs, 0), "send is NULL",
                   "gatherv(NULL send)");
    expect_invalid(netcl_mpi_gatherv(comm, buffer, -1, buffer, counts, displs, 0), "count -1 is negative",
                   "gatherv(negative count)");
    expect_invalid(netcl_mpi_gatherv(comm, buffer, 3, buffer, counts, displs, RANKS), "root 2 is not a rank of a "
                   "world of 2", "gatherv(root out of range)");
    expect_invalid(netcl_mpi_gatherv(comm, buffer, 3, buffer, counts, displs, -1), "root -1 is not a rank",
                   "gatherv(negative root)");
    expect_invalid(netcl_mpi_gatherv(comm, buffer, 3, NULL, counts, displs, rank), "recv, counts or displs is "
                   "NULL on the root", "gatherv(NULL recv on the root)");
    expect_invalid(netcl_mpi_gatherv(comm, buffer, 3, buffer, negative, displs, rank), "counts[1] is negative",
                   "gatherv(negative count on the root)");

    expect_invalid(netcl_mpi_allreduce_max(NULL, values, 2), "comm or values is NULL", "allreduce_max(NULL comm)");
    expect_invalid(netcl_mpi_allreduce_max(comm, NULL, 2), "comm or values is NULL", "allreduce_max(NULL values)");
    expect_invalid(netcl_mpi_allreduce_max(comm, values, 0), "count 0 is not positive", "allreduce_max(count 0)");
    expect_invalid(netcl_mpi_barrier(NULL), "comm is NULL", "barrier(NULL)");
    expect_invalid(netcl_mpi_abort(NULL, 3), "comm is NULL", "abort(NULL)");

    CHECK(memcmp(buffer, before, sizeof buffer) == 0, "a refused call wrote the buffer");
    CHECK(values[0] == 4 && values[1] == 5, "a refused call wrote the values");
}

static void test_status_names(void)
{
    CHECK(strcmp(netcl_mpi_status_name(NETCL_MPI_SUCCESS), "NETCL_MPI_SUCCESS") == 0, "success");
    CHECK(strcmp(netcl_mpi_status_name(NETCL_MPI_INVALID_ARGUMENT), "NETCL_MPI_INVALID_ARGUMENT") == 0, "invalid");
    CHECK(strcmp(netcl_mpi_status_name(NETCL_MPI_FAILED), "NETCL_MPI_FAILED") == 0, "failed");
    CHECK(strcmp(netcl_mpi_status_name(NETCL_MPI_FINALIZED), "NETCL_MPI_FINALIZED") == 0, "finalized");
    CHECK(strcmp(netcl_mpi_status_name(NETCL_MPI_OUT_OF_HOST_MEMORY), "NETCL_MPI_OUT_OF_HOST_MEMORY") == 0, "oom");
    CHECK(strcmp(netcl_mpi_status_name(-1), "NETCL_MPI_UNKNOWN_STATUS") == 0, "unknown");
    CHECK(netcl_mpi_abi_version() == NETCL_MPI_ABI_VERSION, "ABI %d", netcl_mpi_abi_version());
}

int main(void)
{
    test_status_names();
    netcl_mpi_comm *comm = NULL;
    EXPECT_OK(netcl_mpi_world_create(&comm));
    if (comm == NULL) {
        return test_finish("test_mpi");
    }
    int32_t rank = -1, size = -1;
    EXPECT_OK(netcl_mpi_comm_rank(comm, &rank));
    EXPECT_OK(netcl_mpi_comm_size(comm, &size));
    CHECK(size == RANKS, "run it under mpirun -np %d, not %d", RANKS, size);
    if (size == RANKS) {
        /* A second world shares MPI, initialized once. */
        netcl_mpi_comm *again = NULL;
        EXPECT_OK(netcl_mpi_world_create(&again));
        EXPECT_OK(netcl_mpi_comm_destroy(again));
        test_reduce_scatter(comm, rank);
        test_gathers(comm, rank);
        test_allreduce_max(comm, rank);
        test_bad_arguments(comm, rank);
    }
    EXPECT_OK(netcl_mpi_comm_destroy(comm));
    EXPECT_OK(netcl_mpi_comm_destroy(NULL));
    EXPECT_OK(netcl_mpi_finalize());
    EXPECT_OK(netcl_mpi_finalize());
    comm = NULL;
    CHECK(netcl_mpi_world_create(&comm) == NETCL_MPI_FINALIZED && comm == NULL, "a world after finalize: %s",
          netcl_mpi_last_error());
    CHECK(strstr(netcl_mpi_last_error(), "cannot be initialized again") != NULL, "%s", netcl_mpi_last_error());
    printf("rank %d: ", rank);
    return test_finish("test_mpi");
}
