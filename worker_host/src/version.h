/* Copyright (C) 2026 the Drover authors; BSD-2-Clause, see LICENSE. */

/*
 * version.h -- Drover's version, for droverd and droverctl alike.
 */

#ifndef DROVER_VERSION_H
#define DROVER_VERSION_H

#define DROVER_VERSION  "0.2.0"

#endif /* DROVER_VERSION_H */
